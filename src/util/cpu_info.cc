#include "util/cpu_info.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace qwenvl {
namespace {

#if defined(__x86_64__) || defined(__i386__)

struct Regs {
  uint32_t a = 0, b = 0, c = 0, d = 0;
};

Regs Cpuid(uint32_t leaf, uint32_t subleaf) {
  Regs r;
  if (!__get_cpuid_count(leaf, subleaf, &r.a, &r.b, &r.c, &r.d)) r = Regs{};
  return r;
}

bool Bit(uint32_t v, int bit) { return ((v >> bit) & 1u) != 0; }

// XCR0: the register state the OS saves. Without it an instruction set the CPU has still faults.
uint64_t Xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

// Linux keeps AMX's 8 KiB of tile data out of a process until it asks (arch_prctl
// ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA); the grant covers every thread of the process.
bool RequestAmxTileData() {
#if defined(__linux__) && defined(__x86_64__)
  constexpr int kArchReqXcompPerm = 0x1023;
  constexpr int kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

CpuInfo Detect() {
  CpuInfo info;
  const Regs r0 = Cpuid(0, 0);
  char vendor[13] = {};
  std::memcpy(vendor, &r0.b, 4);
  std::memcpy(vendor + 4, &r0.d, 4);
  std::memcpy(vendor + 8, &r0.c, 4);
  info.vendor = vendor;
  const uint32_t max_leaf = r0.a;

  const Regs r1 = Cpuid(1, 0);
  const int base_family = static_cast<int>((r1.a >> 8) & 0xf);
  const int base_model = static_cast<int>((r1.a >> 4) & 0xf);
  info.stepping = static_cast<int>(r1.a & 0xf);
  info.family =
      base_family == 0xf ? base_family + static_cast<int>((r1.a >> 20) & 0xff) : base_family;
  info.model = (base_family == 0x6 || base_family == 0xf)
                   ? base_model + (static_cast<int>((r1.a >> 16) & 0xf) << 4)
                   : base_model;

  char brand[49] = {};
  if (Cpuid(0x80000000u, 0).a >= 0x80000004u) {
    for (uint32_t i = 0; i < 3; ++i) {
      const Regs r = Cpuid(0x80000002u + i, 0);
      std::memcpy(brand + 16 * i, &r, 16);
    }
  }
  info.brand = brand;
  const auto not_space = [](char c) { return c != ' '; };
  info.brand.erase(info.brand.begin(),
                   std::find_if(info.brand.begin(), info.brand.end(), not_space));
  info.brand.erase(std::find_if(info.brand.rbegin(), info.brand.rend(), not_space).base(),
                   info.brand.end());

  const bool osxsave = Bit(r1.c, 27);
  const uint64_t xcr0 = osxsave ? Xcr0() : 0;
  const bool os_avx = (xcr0 & 0x6) == 0x6;                 // SSE and AVX state
  const bool os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;  // opmask, ZMM_Hi256, Hi16_ZMM
  const Regs r7 = max_leaf >= 7 ? Cpuid(7, 0) : Regs{};
  const Regs r7_1 = max_leaf >= 7 ? Cpuid(7, 1) : Regs{};
  const auto add = [&](const char* name, bool present) {
    if (present) info.features.emplace_back(name);
  };
  add("fma", os_avx && Bit(r1.c, 12));
  add("f16c", os_avx && Bit(r1.c, 29));
  add("avx2", os_avx && Bit(r7.b, 5));
  add("avx512f", os_avx512 && Bit(r7.b, 16));
  add("avx512dq", os_avx512 && Bit(r7.b, 17));
  add("avx512bw", os_avx512 && Bit(r7.b, 30));
  add("avx512vl", os_avx512 && Bit(r7.b, 31));
  add("avx512_vnni", os_avx512 && Bit(r7.c, 11));
  add("avx512_bf16", os_avx512 && Bit(r7_1.a, 5));
  add("avx512_fp16", os_avx512 && Bit(r7.d, 23));
  add("avx_vnni", os_avx && Bit(r7_1.a, 4));
  const bool amx_tile = Bit(r7.d, 24);
  if (amx_tile && RequestAmxTileData()) {
    add("amx_tile", true);
    add("amx_bf16", Bit(r7.d, 22));
    add("amx_int8", Bit(r7.d, 25));
  }
  return info;
}

#else  // not x86

CpuInfo Detect() {
  CpuInfo info;
  info.vendor = "unknown";
  return info;
}

#endif

}  // namespace

bool CpuInfo::Has(std::string_view feature) const {
  return std::find(features.begin(), features.end(), feature) != features.end();
}

std::string CpuInfo::Key() const {
  std::string key = vendor + "-" + std::to_string(family) + "-" + std::to_string(model) + "-" +
                    std::to_string(stepping) + "-";
  for (size_t i = 0; i < features.size(); ++i) key += (i ? "+" : "") + features[i];
  return key;
}

const CpuInfo& ThisCpu() {
  static const CpuInfo info = Detect();
  return info;
}

}  // namespace qwenvl
