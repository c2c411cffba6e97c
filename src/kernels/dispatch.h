// Test and benchmark hooks over Highway's runtime dispatch, with no Highway types: which SIMD
// targets the kernels were compiled for and this CPU supports, and forcing one of them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qwenvl::kernels {

// Targets compiled into the kernels and supported by this CPU, best first.
std::vector<int64_t> AvailableTargets();
std::string TargetName(int64_t target);
// The target the kernels dispatch to now.
int64_t CurrentTarget();
// Restricts dispatch to `target` (one of AvailableTargets()); 0 restores the best one.
// Process-wide: for tests and benchmarks only, never while kernels run on other threads.
void ForceTarget(int64_t target);

}  // namespace qwenvl::kernels
