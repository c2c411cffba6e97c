// Per-target bodies of the elementwise kernels: SiluMul, GeluErf and RmsNorm rows.

#if defined(QWENVL_KERNELS_ACTIVATIONS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef QWENVL_KERNELS_ACTIVATIONS_INL_H_
#undef QWENVL_KERNELS_ACTIVATIONS_INL_H_
#else
#define QWENVL_KERNELS_ACTIVATIONS_INL_H_
#endif

#include <cmath>
#include <cstdint>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace qwenvl::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// silu(g)·u = g·u / (1 + e^-g). The exponent is clamped so e^-g stays finite: for g < -88 the
// result is ~0 either way.
template <class DF, class V = hn::Vec<DF>>
HWY_INLINE V SiluMulVec(DF df, V g, V u) {
  const V e = hn::Exp(df, hn::Min(hn::Neg(g), hn::Set(df, 88.0f)));
  return hn::Div(hn::Mul(g, u), hn::Add(hn::Set(df, 1.0f), e));
}

// Exact GELU through erfc, which keeps relative accuracy for negative x where the result is tiny:
// gelu(x) = x·(1 − h) for x ≥ 0 and x·h for x < 0, h = erfc(|x|/√2)/2. erfc(z) = t·exp(−z² + P(t)),
// t = 1/(1 + z/2), P a degree-9 polynomial (Chebyshev fit, relative error < 1.2e-7 for z ≥ 0).
template <class DF, class V = hn::Vec<DF>>
HWY_INLINE V GeluErfVec(DF df, V x) {
  const V z = hn::Mul(hn::Abs(x), hn::Set(df, 0.70710678118654752f));
  const V t = hn::Div(hn::Set(df, 1.0f), hn::MulAdd(z, hn::Set(df, 0.5f), hn::Set(df, 1.0f)));
  V p = hn::Set(df, 0.17087277f);
  p = hn::MulAdd(p, t, hn::Set(df, -0.82215223f));
  p = hn::MulAdd(p, t, hn::Set(df, 1.48851587f));
  p = hn::MulAdd(p, t, hn::Set(df, -1.13520398f));
  p = hn::MulAdd(p, t, hn::Set(df, 0.27886807f));
  p = hn::MulAdd(p, t, hn::Set(df, -0.18628806f));
  p = hn::MulAdd(p, t, hn::Set(df, 0.09678418f));
  p = hn::MulAdd(p, t, hn::Set(df, 0.37409196f));
  p = hn::MulAdd(p, t, hn::Set(df, 1.00002368f));
  p = hn::MulAdd(p, t, hn::Set(df, -1.26551223f));
  const V h = hn::Mul(hn::Mul(t, hn::Set(df, 0.5f)), hn::Exp(df, hn::NegMulAdd(z, z, p)));
  const V factor = hn::IfThenElse(hn::Lt(x, hn::Zero(df)), h, hn::Sub(hn::Set(df, 1.0f), h));
  return hn::Mul(x, factor);
}

// Applies op to n floats in place, the tail through a zero-padded vector.
template <class Op>
HWY_INLINE void ForEachVector(float* HWY_RESTRICT a, const float* HWY_RESTRICT b, int64_t n,
                              const Op& op) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(op(df, hn::LoadU(df, a + i), b ? hn::LoadU(df, b + i) : hn::Zero(df)), df, a + i);
  }
  if (i < n) {
    HWY_ALIGN float ta[HWY_MAX_BYTES / sizeof(float)] = {};
    HWY_ALIGN float tb[HWY_MAX_BYTES / sizeof(float)] = {};
    for (int64_t j = i; j < n; ++j) {
      ta[j - i] = a[j];
      tb[j - i] = b ? b[j] : 0.0f;
    }
    hn::Store(op(df, hn::Load(df, ta), hn::Load(df, tb)), df, ta);
    for (int64_t j = i; j < n; ++j) a[j] = ta[j - i];
  }
}

// y = x / sqrt(mean(x²) + eps) · weight for one row; y may alias x.
HWY_INLINE void RmsNormRow(const float* x, const float* HWY_RESTRICT weight, int64_t dim, float eps,
                           float* y) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  int64_t i = 0;
  for (; i + 2 * lanes <= dim; i += 2 * lanes) {
    const auto a = hn::LoadU(df, x + i), b = hn::LoadU(df, x + i + lanes);
    acc0 = hn::MulAdd(a, a, acc0);
    acc1 = hn::MulAdd(b, b, acc1);
  }
  float ss = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
  for (; i < dim; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(dim) + eps);
  const auto vinv = hn::Set(df, inv);
  i = 0;
  for (; i + lanes <= dim; i += lanes) {
    hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(df, x + i), vinv), hn::LoadU(df, weight + i)), df, y + i);
  }
  for (; i < dim; ++i) y[i] = x[i] * inv * weight[i];
}

}  // namespace qwenvl::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // QWENVL_KERNELS_ACTIVATIONS_INL_H_
