// ApplyRotaryHalf: vectorized over the head dimension (rotate-half form, model-spec rotary).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/rotary.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/ops.h"

HWY_BEFORE_NAMESPACE();
namespace qwenvl::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One head: v[j] = lo·c[j] − hi·s[j], v[j + half] = hi·c[j + half] + lo·s[j + half].
HWY_INLINE void RotateHead(float* HWY_RESTRICT v, const float* HWY_RESTRICT c,
                           const float* HWY_RESTRICT s, int64_t half) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t j = 0;
  for (; j + lanes <= half; j += lanes) {
    const auto lo = hn::LoadU(df, v + j), hi = hn::LoadU(df, v + j + half);
    const auto new_lo = hn::NegMulAdd(hi, hn::LoadU(df, s + j), hn::Mul(lo, hn::LoadU(df, c + j)));
    const auto new_hi =
        hn::MulAdd(lo, hn::LoadU(df, s + j + half), hn::Mul(hi, hn::LoadU(df, c + j + half)));
    hn::StoreU(new_lo, df, v + j);
    hn::StoreU(new_hi, df, v + j + half);
  }
  for (; j < half; ++j) {
    const float lo = v[j], hi = v[j + half];
    v[j] = lo * c[j] - hi * s[j];
    v[j + half] = hi * c[j + half] + lo * s[j + half];
  }
}

void RotaryTarget(const RotaryArgs& a) {
  for (int64_t r = 0; r < a.rows; ++r) {
    const float* c = a.cos + r * a.head_dim;
    const float* s = a.sin + r * a.head_dim;
    for (int64_t h = 0; h < a.num_heads; ++h) {
      RotateHead(a.x + r * a.row_stride + h * a.head_dim, c, s, a.head_dim / 2);
    }
  }
}

}  // namespace qwenvl::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qwenvl::kernels {

HWY_EXPORT(RotaryTarget);

void ApplyRotaryHalf(const RotaryArgs& args) { HWY_DYNAMIC_DISPATCH(RotaryTarget)(args); }

}  // namespace qwenvl::kernels
#endif  // HWY_ONCE
