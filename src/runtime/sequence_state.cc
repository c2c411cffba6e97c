#include "runtime/sequence_state.h"

#include "util/error.h"

namespace qwenvl::runtime {

void SequenceState::Truncate(int64_t n) {
  if (n == 0) return Reset();
  if (n == static_cast<int64_t>(ids.size())) return;
  sequence.Truncate(n, max_pos[n - 1] + 1 - n);
  ids.resize(n);
  max_pos.resize(n);
  while (!media_ranges.empty() && media_ranges.back().second > n) {
    media_ranges.pop_back();
    media_keys.pop_back();
  }
}

void SequenceState::CopyPrefix(const SequenceState& from, int64_t n) {
  QWENVL_CHECK(&from != this && n >= 0 && n <= static_cast<int64_t>(from.ids.size()));
  if (n == 0) return Reset();
  sequence.CopyPrefix(from.sequence, n, from.max_pos[n - 1] + 1 - n);  // rope_delta as Truncate's
  ids.assign(from.ids.begin(), from.ids.begin() + n);
  max_pos.assign(from.max_pos.begin(), from.max_pos.begin() + n);
  media_keys.clear();
  media_ranges.clear();
  for (size_t i = 0; i < from.media_ranges.size() && from.media_ranges[i].second <= n; ++i) {
    media_keys.push_back(from.media_keys[i]);
    media_ranges.push_back(from.media_ranges[i]);
  }
}

}  // namespace qwenvl::runtime
