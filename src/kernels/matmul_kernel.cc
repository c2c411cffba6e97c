#include "kernels/matmul_kernel.h"

#include "util/cpu_info.h"

namespace qwenvl::kernels {

std::string_view MatMulKernelName(MatMulKernel kernel) {
  switch (kernel) {
    case MatMulKernel::kF32:
      return "f32";
    case MatMulKernel::kInt8:
      return "int8";
    case MatMulKernel::kBf16Dot:
      return "bf16-dot";
    case MatMulKernel::kAmxBf16:
      return "amx-bf16";
  }
  return "?";
}

std::optional<MatMulKernel> ParseMatMulKernel(std::string_view name) {
  for (MatMulKernel k : kAllMatMulKernels) {
    if (MatMulKernelName(k) == name) return k;
  }
  return std::nullopt;
}

bool MatMulKernelRuns(MatMulKernel kernel) {
  const CpuInfo& cpu = ThisCpu();
  // Everything the kernels are compiled for (their target attributes), as the CPU reports it: a
  // VM may hide a part of AVX-512.
  const bool avx512 = cpu.Has("avx512f") && cpu.Has("avx512dq") && cpu.Has("avx512bw") &&
                      cpu.Has("avx512vl") && cpu.Has("f16c");
  switch (kernel) {
    case MatMulKernel::kF32:
      return true;
    case MatMulKernel::kInt8:
      return avx512 && cpu.Has("avx512_vnni");
    case MatMulKernel::kBf16Dot:
      return avx512 && cpu.Has("avx512_bf16");
    case MatMulKernel::kAmxBf16:
      return avx512 && cpu.Has("avx512_bf16") && cpu.Has("amx_tile") && cpu.Has("amx_bf16");
  }
  return false;
}

bool MatMulKernelTakes(MatMulKernel kernel, WeightFormat type) {
  return kernel != MatMulKernel::kInt8 || IsQuantized(type);
}

bool MatMulKernelRoundsToBf16(MatMulKernel kernel) {
  return kernel == MatMulKernel::kBf16Dot || kernel == MatMulKernel::kAmxBf16;
}

}  // namespace qwenvl::kernels
