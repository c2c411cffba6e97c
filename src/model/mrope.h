// M-RoPE rotary tables for the language model (model-spec §5.1): one angle per frequency index,
// each index reading the t, h or w position stream chosen by mrope_section (contiguous sections,
// repeated for both rotate_half halves). The tables feed the backend's Rotary.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "io/model_config.h"

namespace qwenvl::model {

// The three position streams (t, h, w) of a run of tokens, each [n]. For text all three are equal.
struct PositionStreams {
  std::span<const int64_t> t;
  std::span<const int64_t> h;
  std::span<const int64_t> w;
  int64_t size() const { return static_cast<int64_t>(t.size()); }
  PositionStreams Slice(int64_t begin, int64_t n) const {
    return {t.subspan(begin, n), h.subspan(begin, n), w.subspan(begin, n)};
  }
};

class MRope {
 public:
  // Throws Error when mrope_section does not add up to head_dim / 2.
  explicit MRope(const io::TextConfig& config);

  int64_t head_dim() const { return head_dim_; }
  // cos, sin: [n, head_dim] for n = pos.size(). Float32 throughout, as the fixtures (§5.1: the
  // bf16 cast of the reference's bf16 inference is deliberately not emulated).
  void Fill(const PositionStreams& pos, float* cos, float* sin) const;

 private:
  int64_t head_dim_;
  std::vector<float> inv_freq_;  // [head_dim / 2]: 1 / theta^(2j / head_dim)
  std::vector<uint8_t> stream_;  // [head_dim / 2]: 0 = t, 1 = h, 2 = w
};

}  // namespace qwenvl::model
