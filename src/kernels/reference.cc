#include "kernels/reference.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "util/bf16.h"

namespace qwenvl::kernels {

float WeightAtRef(const WeightView& w, int64_t row, int64_t col) {
  const int64_t i = row * w.cols + col;
  switch (w.type) {
    case WeightFormat::kF32:
      return static_cast<const float*>(w.data)[i];
    case WeightFormat::kBF16:
      return Bf16ToF32(static_cast<const uint16_t*>(w.data)[i]);
    case WeightFormat::kF16:
      return F16ToF32(static_cast<const uint16_t*>(w.data)[i]);
    case WeightFormat::kQ8:
    case WeightFormat::kQ4:
      break;
  }
  // Quantized layouts (dtype.h): values, then one float16 scale per block of kQuantBlock columns.
  const QuantLayout l = QuantLayoutOf(w.type, w.rows, w.cols);
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  const int64_t block = col / kQuantBlock, offset = col % kQuantBlock;
  uint16_t scale_bits;
  std::memcpy(&scale_bits, base + l.scales_offset + (row * l.blocks + block) * kQuantScaleBytes, 2);
  const float scale = F16ToF32(scale_bits);
  const uint8_t* q = base + row * l.row_bytes;
  if (w.type == WeightFormat::kQ8) return scale * static_cast<float>(int{q[col]} - 128);
  const uint8_t byte = q[block * (kQuantBlock / 2) + offset % (kQuantBlock / 2)];
  const int u = offset < kQuantBlock / 2 ? (byte & 15) : (byte >> 4);
  return scale * static_cast<float>(u - 8);
}

void MatMulRef(const float* x, int64_t m, const WeightView& w, const float* bias, float* y) {
  const int64_t n = w.rows, k = w.cols;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < k; ++p) sum += double(x[i * k + p]) * WeightAtRef(w, j, p);
      y[i * n + j] = static_cast<float>(sum + (bias ? bias[j] : 0.0f));
    }
  }
}

void RmsNormRef(const float* x, const float* weight, int64_t rows, int64_t dim, float eps,
                float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < dim; ++i) ss += double(x[r * dim + i]) * x[r * dim + i];
    const double inv = 1.0 / std::sqrt(ss / dim + eps);
    for (int64_t i = 0; i < dim; ++i) y[r * dim + i] = float(x[r * dim + i] * inv * weight[i]);
  }
}

void SiluMulRef(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    gate[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * up[i]);
  }
}

void GeluErfRef(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    x[i] = static_cast<float>(0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))));
  }
}

void ApplyRotaryHalfRef(const RotaryArgs& a) {
  const int64_t half = a.head_dim / 2;
  for (int64_t r = 0; r < a.rows; ++r) {
    const float* c = a.cos + r * a.head_dim;
    const float* s = a.sin + r * a.head_dim;
    for (int64_t h = 0; h < a.num_heads; ++h) {
      float* v = a.x + r * a.row_stride + h * a.head_dim;
      for (int64_t j = 0; j < half; ++j) {
        const double lo = v[j], hi = v[j + half];
        v[j] = static_cast<float>(lo * c[j] - hi * s[j]);
        v[j + half] = static_cast<float>(hi * c[j + half] + lo * s[j + half]);
      }
    }
  }
}

void AttentionRef(const AttentionArgs& a) {
  const int64_t group = a.num_heads / a.num_kv_heads, d = a.head_dim;
  std::vector<double> p(a.kv_len);
  // One kv head's keys and values widened to float32 [kv_len, d] (the stored type's values).
  std::vector<float> k(static_cast<size_t>(a.kv_len * d)), v(k.size());
  for (int64_t kvh = 0; kvh < a.num_kv_heads; ++kvh) {
    for (int64_t j = 0; j < a.kv_len; ++j) {
      LoadKvValues(a.k + j * a.k_stride, a.kv_type, a.num_kv_heads, d, kvh * d, d, &k[j * d]);
      LoadKvValues(a.v + j * a.v_stride, a.kv_type, a.num_kv_heads, d, kvh * d, d, &v[j * d]);
    }
    for (int64_t i = 0; i < a.q_len; ++i) {
      const int64_t visible = a.causal ? std::min(a.kv_len, a.q_offset + i + 1) : a.kv_len;
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        const float* q = a.q + i * a.q_stride + h * d;
        double max = -INFINITY, sum = 0;
        for (int64_t j = 0; j < visible; ++j) {
          double dot = 0;
          for (int64_t c = 0; c < d; ++c) dot += double(q[c]) * k[j * d + c];
          p[j] = dot * a.scale;
          max = std::max(max, p[j]);
        }
        for (int64_t j = 0; j < visible; ++j) sum += (p[j] = std::exp(p[j] - max));
        for (int64_t c = 0; c < d; ++c) {
          double acc = 0;
          for (int64_t j = 0; j < visible; ++j) acc += p[j] * v[j * d + c];
          a.out[i * a.out_stride + h * d + c] = static_cast<float>(acc / sum);
        }
      }
    }
  }
}

}  // namespace qwenvl::kernels
