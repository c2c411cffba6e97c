#include "kernels/dispatch.h"

#include "hwy/highway.h"
#include "hwy/targets.h"

namespace qwenvl::kernels {

std::vector<int64_t> AvailableTargets() {
  std::vector<int64_t> out;
  const int64_t supported = hwy::SupportedTargets();
  // HWY_TARGETS here equals the set compiled in the kernels' .cc files (same definitions).
  for (int64_t bit = 1; bit != 0 && bit <= HWY_TARGETS; bit <<= 1) {
    if ((HWY_TARGETS & bit) && (supported & bit)) out.push_back(bit);
  }
  return out;  // lower bits are better targets on x86
}

std::string TargetName(int64_t target) { return hwy::TargetName(target); }

int64_t CurrentTarget() {
  const int64_t supported = hwy::SupportedTargets() & HWY_TARGETS;
  return supported & -supported;  // lowest set bit = best target
}

void ForceTarget(int64_t target) { hwy::SetSupportedTargetsForTest(target); }

}  // namespace qwenvl::kernels
