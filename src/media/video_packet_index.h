// The packets of a video stream in decode order, and which of them a sparse decode must feed to the
// decoder to get a set of frames (model-spec §7.2 samples a few frames of many): the frames are
// numbered by presentation time, each wanted frame is decoded from the last random-access packet
// before it, and the runs of packets that lead to no wanted frame are not decoded at all.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace qwenvl::media {

struct PacketEntry {
  int64_t pts = 0;
  int64_t dts = 0;  // kNoTimestamp when the container gives none
  bool key = false;
  bool discard = false;  // decoded for its references but never output (an edit list's preroll)
};

inline constexpr int64_t kNoTimestamp = INT64_MIN;

// A run of packets fed to the decoder in order: [begin, end) in decode order.
struct PacketRun {
  int64_t begin = 0;
  int64_t end = 0;
  bool operator==(const PacketRun&) const = default;
};

class PacketIndex {
 public:
  // packets in decode order. usable() is false when a packet has no pts, two frames share one, or
  // the first packet is not a random-access point: the sparse decode then cannot name frames.
  explicit PacketIndex(std::vector<PacketEntry> packets);

  bool usable() const { return usable_; }
  int64_t frames() const { return static_cast<int64_t>(frame_pts_.size()); }
  const std::vector<PacketEntry>& packets() const { return packets_; }
  // Frame index (presentation order, discarded packets left out) of a pts; -1 if none.
  int64_t FrameOfPts(int64_t pts) const;
  int64_t PtsOfFrame(int64_t frame) const { return frame_pts_[static_cast<size_t>(frame)]; }
  int64_t PositionOfFrame(int64_t frame) const { return frame_pos_[static_cast<size_t>(frame)]; }
  // The packet position a pts belongs to; -1 if none.
  int64_t PositionOfPts(int64_t pts) const;

  // The runs that decode every frame of `frames` (ascending, each < frames()): for each wanted
  // frame, from the last key packet at or before it in decode order whose pts is not after the
  // frame's (a frame shown before its key packet may refer to the group before, so it starts one
  // key earlier) up to the frame's packet. Overlapping or adjacent runs are merged.
  std::vector<PacketRun> RunsFor(std::span<const int64_t> frames) const;

 private:
  std::vector<PacketEntry> packets_;
  std::vector<int64_t> frame_pts_;  // by frame index
  std::vector<int64_t> frame_pos_;  // by frame index: decode position
  std::unordered_map<int64_t, int64_t> pos_of_pts_;
  std::vector<int64_t> keys_;  // positions of key packets, ascending
  bool usable_ = true;
};

}  // namespace qwenvl::media
