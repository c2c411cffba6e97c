// Frame numbering by presentation time and the decode runs of a sparse decode.
#include "media/video_packet_index.h"

#include <algorithm>

namespace qwenvl::media {

PacketIndex::PacketIndex(std::vector<PacketEntry> packets) : packets_(std::move(packets)) {
  std::vector<std::pair<int64_t, int64_t>> shown;  // (pts, position) of the frames that are output
  shown.reserve(packets_.size());
  pos_of_pts_.reserve(packets_.size());
  for (size_t i = 0; i < packets_.size(); ++i) {
    const PacketEntry& p = packets_[i];
    if (p.pts == kNoTimestamp || !pos_of_pts_.emplace(p.pts, static_cast<int64_t>(i)).second) {
      usable_ = false;
      return;
    }
    if (p.key) keys_.push_back(static_cast<int64_t>(i));
    if (!p.discard) shown.emplace_back(p.pts, static_cast<int64_t>(i));
  }
  if (packets_.empty() || !packets_[0].key) {
    usable_ = false;
    return;
  }
  std::sort(shown.begin(), shown.end());
  frame_pts_.reserve(shown.size());
  frame_pos_.reserve(shown.size());
  for (const auto& [pts, pos] : shown) {
    frame_pts_.push_back(pts);
    frame_pos_.push_back(pos);
  }
}

int64_t PacketIndex::PositionOfPts(int64_t pts) const {
  const auto it = pos_of_pts_.find(pts);
  return it == pos_of_pts_.end() ? -1 : it->second;
}

int64_t PacketIndex::FrameOfPts(int64_t pts) const {
  const auto it = std::lower_bound(frame_pts_.begin(), frame_pts_.end(), pts);
  if (it == frame_pts_.end() || *it != pts) return -1;
  return it - frame_pts_.begin();
}

std::vector<PacketRun> PacketIndex::RunsFor(std::span<const int64_t> frames) const {
  std::vector<PacketRun> runs;
  for (const int64_t f : frames) {
    const int64_t pos = PositionOfFrame(f);
    const int64_t pts = PtsOfFrame(f);
    // The last key at or before pos whose pts is not after the frame's; packet 0 is a key.
    auto it = std::upper_bound(keys_.begin(), keys_.end(), pos);
    int64_t start = 0;
    while (it != keys_.begin()) {
      --it;
      if (packets_[static_cast<size_t>(*it)].pts <= pts) {
        start = *it;
        break;
      }
    }
    runs.push_back({start, pos + 1});
  }
  std::sort(runs.begin(), runs.end(),
            [](const PacketRun& a, const PacketRun& b) { return a.begin < b.begin; });
  std::vector<PacketRun> merged;
  for (const PacketRun& r : runs) {
    if (!merged.empty() && r.begin <= merged.back().end) {
      merged.back().end = std::max(merged.back().end, r.end);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

}  // namespace qwenvl::media
