#include <vector>

#include "kernels/ops.h"
#include "util/error.h"

namespace qwenvl::kernels {
namespace {

constexpr int64_t kColsPerUnit = 4;  // threads split n in units of this many columns

float Dot(const float* a, const float* b, int64_t k) {
  float acc[8] = {};
  int64_t p = 0;
  for (; p + 8 <= k; p += 8) {
    for (int l = 0; l < 8; ++l) acc[l] += a[p + l] * b[p + l];
  }
  float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; p < k; ++p) sum += a[p] * b[p];
  return sum;
}

}  // namespace

void MatMul(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
            ThreadPool& pool) {
  const int64_t n = w.rows, k = w.cols;
  const int64_t units = (n + kColsPerUnit - 1) / kColsPerUnit;
  pool.RunRanges(units, [&](int64_t begin, int64_t end, int) {
    thread_local std::vector<float> row;
    row.resize(k);
    for (int64_t j = begin * kColsPerUnit; j < std::min(n, end * kColsPerUnit); ++j) {
      ConvertWeightRow(w, j, row.data());
      const float b = bias ? bias[j] : 0.0f;
      for (int64_t i = 0; i < m; ++i) y[i * n + j] = Dot(x + i * k, row.data(), k) + b;
    }
  });
}

}  // namespace qwenvl::kernels
