// What CPU this is: vendor, family, model and the instruction sets the kernels care about, read
// with CPUID (and XGETBV for what the OS saves on a context switch). Kernel choices are cached
// per CPU under Key(), and `qwenvl bench --json` prints it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace qwenvl {

struct CpuInfo {
  std::string vendor;  // "GenuineIntel", "AuthenticAMD", ... ("unknown" off x86)
  int family = 0;      // display family (base + extended)
  int model = 0;       // display model (base + extended)
  int stepping = 0;
  std::string brand;  // the processor's brand string, trimmed
  // Instruction sets usable here (CPU and OS), in a fixed order: "fma", "f16c", "avx2",
  // "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
  // "avx_vnni", "amx_tile", "amx_bf16", "amx_int8" (the amx ones only once the OS granted the tile
  // state).
  std::vector<std::string> features;

  bool Has(std::string_view feature) const;
  // "vendor-family-model-stepping-<features joined by '+'>": equal keys, same kernels' speeds.
  std::string Key() const;
};

// This machine's CPU, read once. Asks the OS for AMX tile state (Linux arch_prctl) the first time,
// so that the amx features are listed only where the kernels may use them.
const CpuInfo& ThisCpu();

}  // namespace qwenvl
