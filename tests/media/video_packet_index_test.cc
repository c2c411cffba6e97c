// The packet index of the sparse decode: frame numbering by presentation time, the runs of packets
// a set of frames needs, and the streams it refuses to index.
#include "media/video_packet_index.h"

#include <gtest/gtest.h>

#include <vector>

namespace qwenvl::media {
namespace {

PacketEntry P(int64_t pts, bool key = false, bool discard = false) {
  return {.pts = pts, .dts = kNoTimestamp, .key = key, .discard = discard};
}

// Decode order I0 P3 B1 B2 | I4 P7 B5 B6 | I8: frames numbered by pts.
std::vector<PacketEntry> ClosedGops() {
  return {P(0, true), P(3), P(1), P(2), P(4, true), P(7), P(5), P(6), P(8, true)};
}

TEST(PacketIndex, NumbersFramesByPresentationTime) {
  const PacketIndex index(ClosedGops());
  ASSERT_TRUE(index.usable());
  EXPECT_EQ(index.frames(), 9);
  EXPECT_EQ(index.PositionOfFrame(1), 2);
  EXPECT_EQ(index.PositionOfFrame(3), 1);
  EXPECT_EQ(index.FrameOfPts(7), 7);
  EXPECT_EQ(index.FrameOfPts(9), -1);
  EXPECT_EQ(index.PositionOfPts(6), 7);
}

TEST(PacketIndex, RunsStartAtKeysAndMerge) {
  const PacketIndex index(ClosedGops());
  // Frame 2 (position 3) needs I0..B2; frame 8 only its key.
  EXPECT_EQ(index.RunsFor(std::vector<int64_t>{2, 8}), (std::vector<PacketRun>{{0, 4}, {8, 9}}));
  // Frames 1 and 5: two groups; frames 2 and 4 touch and merge into one run.
  EXPECT_EQ(index.RunsFor(std::vector<int64_t>{1, 5}), (std::vector<PacketRun>{{0, 3}, {4, 7}}));
  EXPECT_EQ(index.RunsFor(std::vector<int64_t>{2, 4}), (std::vector<PacketRun>{{0, 5}}));
}

TEST(PacketIndex, LeadingFramesStartOneKeyEarlier) {
  // Open group: I4 is followed in decode order by B2 B3, shown before it (they may refer to P1).
  const PacketIndex index({P(0, true), P(1), P(4, true), P(2), P(3), P(5)});
  ASSERT_TRUE(index.usable());
  EXPECT_EQ(index.RunsFor(std::vector<int64_t>{3}), (std::vector<PacketRun>{{0, 5}}));
  EXPECT_EQ(index.RunsFor(std::vector<int64_t>{5}), (std::vector<PacketRun>{{2, 6}}));
}

TEST(PacketIndex, DiscardedPacketsAreNotFrames) {
  const PacketIndex index({P(-2, true, true), P(-1, false, true), P(0), P(1)});
  ASSERT_TRUE(index.usable());
  EXPECT_EQ(index.frames(), 2);
  EXPECT_EQ(index.PtsOfFrame(0), 0);
  EXPECT_EQ(index.RunsFor(std::vector<int64_t>{1}), (std::vector<PacketRun>{{0, 4}}));
}

TEST(PacketIndex, RefusesWhatItCannotNumber) {
  EXPECT_FALSE(PacketIndex({}).usable());
  EXPECT_FALSE(PacketIndex({P(0, true), P(kNoTimestamp)}).usable());
  EXPECT_FALSE(PacketIndex({P(0, true), P(1), P(1)}).usable());
  EXPECT_FALSE(PacketIndex({P(0), P(1, true)}).usable());
}

}  // namespace
}  // namespace qwenvl::media
