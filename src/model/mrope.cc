#include "model/mrope.h"

#include <cmath>
#include <numeric>
#include <string>

#include "util/error.h"

namespace qwenvl::model {

MRope::MRope(const io::TextConfig& config) : head_dim_(config.head_dim()) {
  const int64_t half = head_dim_ / 2;
  const auto& sections = config.mrope_section;
  const int64_t total = std::accumulate(sections.begin(), sections.end(), int64_t{0});
  if (head_dim_ % 2 != 0 || sections.size() != 3 || total != half) {
    throw Error(ErrorCode::kCorruptFile,
                "config: mrope_section must be 3 sections adding up to head_dim / 2 = " +
                    std::to_string(half) + ", they add up to " + std::to_string(total));
  }
  inv_freq_.resize(half);
  stream_.resize(half);
  int64_t j = 0;
  for (uint8_t s = 0; s < 3; ++s) {
    for (int64_t k = 0; k < sections[s]; ++k, ++j) stream_[j] = s;  // contiguous blocks (§5.1)
  }
  for (int64_t k = 0; k < half; ++k) {
    // The reference computes theta ** (2k / head_dim) in float32, then 1 / that (§5.1).
    const float exponent = static_cast<float>(2 * k) / static_cast<float>(head_dim_);
    inv_freq_[k] = 1.0f / static_cast<float>(std::pow(config.rope_theta, exponent));
  }
}

void MRope::Fill(const PositionStreams& pos, float* cos, float* sin) const {
  const int64_t half = head_dim_ / 2;
  const std::span<const int64_t> streams[3] = {pos.t, pos.h, pos.w};
  for (int64_t r = 0; r < pos.size(); ++r) {
    float* c = cos + r * head_dim_;
    float* s = sin + r * head_dim_;
    for (int64_t k = 0; k < half; ++k) {
      // Position times frequency as a float32 product (§11.14: never in bf16).
      const float angle = static_cast<float>(streams[stream_[k]][r]) * inv_freq_[k];
      c[k] = c[k + half] = static_cast<float>(std::cos(static_cast<double>(angle)));
      s[k] = s[k + half] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
}

}  // namespace qwenvl::model
