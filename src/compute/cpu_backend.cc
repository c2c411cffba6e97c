#include "compute/cpu_backend.h"

#include "kernels/ops.h"
#include "util/error.h"

namespace qwenvl::compute {
namespace {

// Below this many floats an elementwise operation runs on the calling thread: a decode step's
// rows (a few thousand floats) take less time than waking the pool.
constexpr int64_t kParallelFloats = int64_t{1} << 15;

float* Data(const Tensor& t) { return TensorAccess::Data(t); }

}  // namespace

template <class Fn>
void CpuBackend::ForRows(int64_t rows, int64_t cols, Fn&& fn) {
  if (rows * cols < kParallelFloats || rows < 2) {
    fn(int64_t{0}, rows);
    return;
  }
  pool().RunRanges(rows, [&](int64_t begin, int64_t end, int) { fn(begin, end); });
}

Weight CpuBackend::UploadWeight(const HostMatrix& w, const HostMatrix& bias,
                                const WeightUpload& how) {
  Weight out = HostBackend::UploadWeight(w, bias, how);
  kernel_choice_.Decide(TensorAccess::View(out).type);  // at load, not in the first request
  return out;
}

void CpuBackend::MatMul(const Tensor& x, const Weight& w, const Tensor& y) {
  QWENVL_CHECK(x.contiguous() && y.contiguous() && x.rows() == y.rows() && x.cols() == w.cols() &&
               y.cols() == w.rows());
  if (x.rows() == 0) return;
  const kernels::WeightView& view = TensorAccess::View(w);
  kernels::MatMul(Data(x), x.rows(), view, TensorAccess::Bias(w), Data(y), pool(),
                  kernel_choice_.Get(view.type, x.rows()));
}

// The products go to the kernels together when one kernel computes all of them (the int8 GEMV
// then quantizes x once and shares every weight row out in one job).
void CpuBackend::MatMuls(const Tensor& x, std::span<const Product> products) {
  QWENVL_CHECK(std::ssize(products) <= kMaxProducts && kMaxProducts <= kernels::kMaxMatMulProducts);
  for (const Product& p : products) {
    QWENVL_CHECK(x.contiguous() && p.y.contiguous() && x.rows() == p.y.rows() &&
                 x.cols() == p.w->cols() && p.y.cols() == p.w->rows());
  }
  if (x.rows() == 0 || products.empty()) return;
  kernels::MatMulKernel kernel{};
  kernels::MatMulProduct list[kMaxProducts];
  for (size_t i = 0; i < products.size(); ++i) {
    const Product& p = products[i];
    const kernels::WeightView& view = TensorAccess::View(*p.w);
    // One look-up per product (it takes the choice's lock); mixed kernels: one at a time.
    const kernels::MatMulKernel chosen = kernel_choice_.Get(view.type, x.rows());
    if (i == 0) kernel = chosen;
    if (chosen != kernel) return Backend::MatMuls(x, products);
    list[i] = {.w = &view, .bias = TensorAccess::Bias(*p.w), .y = Data(p.y)};
  }
  kernels::MatMulMany(Data(x), x.rows(), std::span(list, products.size()), pool(), kernel);
}

void CpuBackend::RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& y) {
  CheckSameShape(x, y);
  QWENVL_CHECK(weight.size() == x.cols());
  kernels::RmsNorm(Data(x), Data(weight), x.rows(), x.cols(), eps, Data(y), pool());
}

void CpuBackend::Rotary(const RotarySpec& s) {
  QWENVL_CHECK(s.x.cols() == s.num_heads * s.head_dim && s.cos.rows() == s.x.rows() &&
               s.sin.rows() == s.x.rows() && s.cos.cols() == s.head_dim &&
               s.sin.cols() == s.head_dim);
  ForRows(s.x.rows(), s.x.cols(), [&](int64_t begin, int64_t end) {
    kernels::ApplyRotaryHalf({.x = Data(s.x) + begin * s.x.stride(),
                              .rows = end - begin,
                              .row_stride = s.x.stride(),
                              .num_heads = s.num_heads,
                              .head_dim = s.head_dim,
                              .cos = Data(s.cos) + begin * s.cos.stride(),
                              .sin = Data(s.sin) + begin * s.sin.stride()});
  });
}

void CpuBackend::Attention(const AttentionSpec& spec) {
  const auto segments = static_cast<int64_t>(spec.segments.size());
  for (const AttentionSegment& s : spec.segments) {
    QWENVL_CHECK(s.q.cols() == spec.num_heads * spec.head_dim && s.out.rows() == s.q.rows() &&
                 s.out.cols() == s.q.cols() && s.k.rows() == s.v.rows() &&
                 s.k.cols() == KvRowFloats(spec.kv_type, spec.num_kv_heads, spec.head_dim) &&
                 s.v.cols() == s.k.cols());
  }
  // Many small segments (windows of ≤ 64 patches): whole segments per thread, one pool dispatch
  // per layer instead of one per window. Few large ones (frames, one prefill): the kernel spreads
  // heads × queries over the pool.
  SegmentSchedule schedule = schedule_;
  if (schedule == SegmentSchedule::kAuto) {
    schedule = segments >= 4 * static_cast<int64_t>(pool().size()) ? SegmentSchedule::kSegments
                                                                   : SegmentSchedule::kQueries;
  }
  if (schedule == SegmentSchedule::kSegments) {
    pool().Run(segments, [&](int64_t i, int) {
      kernels::Attention(KernelArgs(spec, spec.segments[i]), inline_pool_);
    });
    return;
  }
  for (const AttentionSegment& s : spec.segments) kernels::Attention(KernelArgs(spec, s), pool());
}

void CpuBackend::SiluMul(const Tensor& gate, const Tensor& up) {
  CheckSameShape(gate, up);
  const int64_t c = gate.cols();
  ForRows(gate.rows(), c, [&](int64_t begin, int64_t end) {
    kernels::SiluMul(Data(gate) + begin * c, Data(up) + begin * c, (end - begin) * c);
  });
}

void CpuBackend::Gelu(const Tensor& x) {
  QWENVL_CHECK(x.contiguous());
  const int64_t c = x.cols();
  ForRows(x.rows(), c, [&](int64_t begin, int64_t end) {
    kernels::GeluErf(Data(x) + begin * c, (end - begin) * c);
  });
}

void CpuBackend::Add(const Tensor& x, const Tensor& y) {
  CheckSameShape(x, y);
  const int64_t c = x.cols();
  ForRows(x.rows(), c, [&](int64_t begin, int64_t end) {
    float* a = Data(x);
    const float* b = Data(y);
    for (int64_t i = begin * c; i < end * c; ++i) a[i] += b[i];
  });
}

}  // namespace qwenvl::compute
