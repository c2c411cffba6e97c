#include "compute/reference_backend.h"

#include <vector>

#include "kernels/reference.h"
#include "util/error.h"

namespace qwenvl::compute {
namespace {

float* Data(const Tensor& t) { return TensorAccess::Data(t); }

}  // namespace

// kernels::MatMulRef's sums, with each weight row decoded once for all rows of x.
void ReferenceBackend::MatMul(const Tensor& x, const Weight& w, const Tensor& y) {
  QWENVL_CHECK(x.contiguous() && y.contiguous() && x.rows() == y.rows() && x.cols() == w.cols() &&
               y.cols() == w.rows());
  const kernels::WeightView& view = TensorAccess::View(w);
  const float* bias = TensorAccess::Bias(w);
  const int64_t m = x.rows(), n = w.rows(), k = w.cols();
  std::vector<float> row(static_cast<size_t>(k));
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t p = 0; p < k; ++p) row[p] = kernels::WeightAtRef(view, j, p);
    for (int64_t i = 0; i < m; ++i) {
      const float* xi = Data(x) + i * k;
      double sum = 0;
      for (int64_t p = 0; p < k; ++p) sum += double(xi[p]) * row[p];
      Data(y)[i * n + j] = static_cast<float>(sum + (bias ? bias[j] : 0.0f));
    }
  }
}

void ReferenceBackend::RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& y) {
  CheckSameShape(x, y);
  QWENVL_CHECK(weight.size() == x.cols());
  kernels::RmsNormRef(Data(x), Data(weight), x.rows(), x.cols(), eps, Data(y));
}

void ReferenceBackend::Rotary(const RotarySpec& s) {
  QWENVL_CHECK(s.x.cols() == s.num_heads * s.head_dim && s.cos.rows() == s.x.rows() &&
               s.sin.rows() == s.x.rows() && s.cos.contiguous() && s.sin.contiguous());
  kernels::ApplyRotaryHalfRef({.x = Data(s.x),
                               .rows = s.x.rows(),
                               .row_stride = s.x.stride(),
                               .num_heads = s.num_heads,
                               .head_dim = s.head_dim,
                               .cos = Data(s.cos),
                               .sin = Data(s.sin)});
}

void ReferenceBackend::Attention(const AttentionSpec& spec) {
  for (const AttentionSegment& s : spec.segments) {
    QWENVL_CHECK(s.q.cols() == spec.num_heads * spec.head_dim && s.out.rows() == s.q.rows() &&
                 s.k.rows() == s.v.rows() &&
                 s.k.cols() == KvRowFloats(spec.kv_type, spec.num_kv_heads, spec.head_dim) &&
                 s.v.cols() == s.k.cols());
    kernels::AttentionRef(KernelArgs(spec, s));
  }
}

void ReferenceBackend::SiluMul(const Tensor& gate, const Tensor& up) {
  CheckSameShape(gate, up);
  kernels::SiluMulRef(Data(gate), Data(up), gate.size());
}

void ReferenceBackend::Gelu(const Tensor& x) {
  QWENVL_CHECK(x.contiguous());
  kernels::GeluErfRef(Data(x), x.size());
}

void ReferenceBackend::Add(const Tensor& x, const Tensor& y) {
  CheckSameShape(x, y);
  for (int64_t i = 0; i < x.size(); ++i) Data(x)[i] += Data(y)[i];
}

}  // namespace qwenvl::compute
