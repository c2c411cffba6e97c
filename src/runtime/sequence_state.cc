#include "runtime/sequence_state.h"

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

}  // namespace qwenvl::runtime
