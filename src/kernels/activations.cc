// SiluMul and GeluErf: runtime dispatch to the bodies in activations-inl.h.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/activations.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/activations-inl.h"
#include "kernels/ops.h"

HWY_BEFORE_NAMESPACE();
namespace qwenvl::kernels::HWY_NAMESPACE {

void SiluMulTarget(float* gate, const float* up, int64_t n) {
  ForEachVector(gate, up, n, [](auto df, auto g, auto u) { return SiluMulVec(df, g, u); });
}

void GeluErfTarget(float* x, int64_t n) {
  ForEachVector(x, nullptr, n, [](auto df, auto v, auto) { return GeluErfVec(df, v); });
}

}  // namespace qwenvl::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qwenvl::kernels {

HWY_EXPORT(SiluMulTarget);
HWY_EXPORT(GeluErfTarget);

void SiluMul(float* gate, const float* up, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SiluMulTarget)(gate, up, n);
}

void GeluErf(float* x, int64_t n) { HWY_DYNAMIC_DISPATCH(GeluErfTarget)(x, n); }

}  // namespace qwenvl::kernels
#endif  // HWY_ONCE
