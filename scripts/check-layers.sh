#!/usr/bin/env bash
# Checks the layering the architecture promises (docs/architecture.md): the model computes through
# the compute backend only, so nothing under src/model/ may schedule threads, call the OS for
# memory, hold SIMD code, call kernels directly or reach into a backend's memory.
#   scripts/check-layers.sh [SOURCE_DIR]
set -euo pipefail
root="${1:-$(dirname "$0")/..}"
cd "$root"

pattern='ThreadPool|RunRanges|thread_local|std::thread|\bmmap\b|madvise|munmap|sys/mman\.h|hwy/|immintrin|arm_neon|kernels/(ops|reference|dispatch|quant_vnni)\.h|kernels::(MatMul|RmsNorm|Attention|ApplyRotaryHalf|SiluMul|GeluErf|ConvertRow|ConvertWeightRow|Quantize)\b|TensorAccess|compute/(cpu|reference|host)_backend\.h'
if hits=$(grep -rnE "$pattern" src/model); then
  echo "check-layers: src/model must compute through compute::Backend only; found:" >&2
  echo "$hits" >&2
  exit 1
fi
# The kernels know nothing of the model or the backends above them.
if hits=$(grep -rnE '#include "(model|compute|runtime)/' src/kernels); then
  echo "check-layers: src/kernels includes a layer above it:" >&2
  echo "$hits" >&2
  exit 1
fi
echo "check-layers: src/model uses the backend interface only; src/kernels stands alone"
