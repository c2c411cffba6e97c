// Every operation of the backend interface, on both backends: the CPU backend's results against
// the reference backend's over random shapes (strided views included), both against values
// written out here for the row operations, and attention in every schedule against a plain
// per-segment softmax.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "compute/backends.h"
#include "compute/cpu_backend.h"
#include "compute/reference_backend.h"
#include "util/bf16.h"
#include "util/thread_pool.h"

namespace qwenvl::compute {
namespace {

std::vector<float> Random(std::mt19937& rng, int64_t n, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
  return m;
}

// One backend with helpers to move host vectors in and out.
struct Side {
  Backend& b;
  Buffer Make(const std::vector<float>& v, int64_t rows, int64_t cols) {
    Buffer t = b.Allocate(rows, cols);
    b.Upload(v, t);
    return t;
  }
  std::vector<float> Get(const Tensor& t) {
    std::vector<float> v(static_cast<size_t>(t.size()));
    b.Download(t, v);
    return v;
  }
};

class BackendOps : public ::testing::Test {
 protected:
  ThreadPool pool_{3};
  CpuBackend cpu_{pool_};
  ReferenceBackend ref_{pool_};
  Side fast_{cpu_};
  Side slow_{ref_};
  std::mt19937 rng_{20261201};
};

TEST_F(BackendOps, NamesAndFactory) {
  EXPECT_EQ(MakeBackend("cpu", pool_)->name(), "cpu");
  EXPECT_EQ(MakeBackend("reference", pool_)->name(), "reference");
  EXPECT_THROW(MakeBackend("cuda", pool_), Error);
}

TEST_F(BackendOps, UploadDownloadCopyAndViews) {
  const std::vector<float> v = Random(rng_, 6 * 5);
  Buffer t = fast_.Make(v, 6, 5);
  EXPECT_EQ(fast_.Get(t), v);
  // A column view is strided: copying it into a contiguous buffer takes the right elements.
  const Tensor cols = t.Cols(1, 3).Rows(2, 3);
  EXPECT_FALSE(cols.contiguous());
  Buffer packed = cpu_.Allocate(3, 3);
  cpu_.Copy(cols, packed);
  std::vector<float> want;
  for (int64_t r = 2; r < 5; ++r)
    for (int64_t c = 1; c < 4; ++c) want.push_back(v[r * 5 + c]);
  EXPECT_EQ(fast_.Get(packed), want);
  EXPECT_EQ(fast_.Get(cols), want);  // a strided download packs the rows
  // Allocations are zeroed; empty ones are fine.
  EXPECT_EQ(fast_.Get(cpu_.Allocate(2, 2)), std::vector<float>(4, 0.0f));
  EXPECT_TRUE(fast_.Get(cpu_.Allocate(0, 7)).empty());
  EXPECT_EQ(t.Reshape(3, 10).cols(), 10);
  EXPECT_EQ(t.Prefix(2, 4).size(), 8);
}

TEST_F(BackendOps, GatherScatterRoundTrip) {
  const std::vector<float> natural{0, 1, 10, 11, 20, 21};  // 3 rows of 2
  const std::vector<int64_t> index{2, 0, 1};
  for (Side* s : {&fast_, &slow_}) {
    Buffer src = s->Make(natural, 3, 2);
    Buffer window = s->b.Allocate(3, 2), back = s->b.Allocate(3, 2);
    s->b.GatherRows(src, index, window);
    EXPECT_EQ(s->Get(window), (std::vector<float>{20, 21, 0, 1, 10, 11}));
    s->b.ScatterRows(window, index, back);
    EXPECT_EQ(s->Get(back), natural);
  }
}

TEST_F(BackendOps, EmbedRowsConvertsTheStoredType) {
  const int64_t rows = 7, cols = 9;
  std::vector<uint16_t> bits;
  std::vector<float> values;
  for (int64_t i = 0; i < rows * cols; ++i) {
    bits.push_back(F32ToBf16(static_cast<float>(i % 13) / 8.0f - 0.75f));
    values.push_back(Bf16ToF32(bits.back()));
  }
  const HostMatrix m{.view = {bits.data(), WeightFormat::kBF16, rows, cols}};
  const std::vector<TokenId> ids{6, 0, 3, 3};
  for (Side* s : {&fast_, &slow_}) {
    const Weight table = s->b.UploadWeight(m, {}, {});
    Buffer out = s->b.Allocate(4, cols);
    s->b.EmbedRows(table, ids, out);
    const std::vector<float> got = s->Get(out);
    for (size_t i = 0; i < ids.size(); ++i)
      for (int64_t c = 0; c < cols; ++c) EXPECT_EQ(got[i * cols + c], values[ids[i] * cols + c]);
  }
}

// The math operations over random shapes: CPU against reference.
TEST_F(BackendOps, CpuMatchesReferenceOnRandomShapes) {
  std::uniform_int_distribution<int64_t> dim(1, 70);
  for (int trial = 0; trial < 25; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    const int64_t m = dim(rng_), k = dim(rng_) + 1, n = dim(rng_);
    const std::vector<float> x = Random(rng_, m * k), w = Random(rng_, n * k, 0.2f);
    const std::vector<float> bias = Random(rng_, n);
    for (WeightPrecision p :
         {WeightPrecision::kStored, WeightPrecision::kQ8, WeightPrecision::kQ4}) {
      const HostMatrix hw{.view = {w.data(), WeightFormat::kF32, n, k}};
      const HostMatrix hb{.view = {bias.data(), WeightFormat::kF32, 1, n}};
      std::vector<float> ys[2];
      int side = 0;
      for (Side* s : {&fast_, &slow_}) {
        const Weight wt = s->b.UploadWeight(hw, hb, {.precision = p});
        Buffer xt = s->Make(x, m, k), yt = s->b.Allocate(m, n);
        s->b.MatMul(xt, wt, yt);
        ys[side++] = s->Get(yt);
      }
      // Quantized products on VNNI CPUs also round x to int8 for small m: a looser bound there.
      EXPECT_LT(MaxAbsDiff(ys[0], ys[1]),
                p == WeightPrecision::kStored ? 1e-4 : 0.05 * std::sqrt(k))
          << WeightPrecisionName(p);
    }

    const std::vector<float> norm_w = Random(rng_, k);
    const int64_t heads = 1 + trial % 3, head_dim = 2 * (1 + trial % 8);
    const int64_t width = heads * head_dim;
    const std::vector<float> rows = Random(rng_, m * (width + 3));
    const std::vector<float> angles = Random(rng_, m * head_dim, 3.0f);
    std::vector<float> cos, sin;
    for (float a : angles) cos.push_back(std::cos(a)), sin.push_back(std::sin(a));
    std::vector<float> results[2][6];
    int side = 0;
    for (Side* s : {&fast_, &slow_}) {
      Backend& b = s->b;
      Buffer xt = s->Make(x, m, k), yt = b.Allocate(m, k), nw = s->Make(norm_w, 1, k);
      b.RmsNorm(xt, nw, 1e-6f, yt);
      results[side][0] = s->Get(yt);
      // Rotary on a strided column view: the columns around it stay untouched.
      Buffer r = s->Make(rows, m, width + 3), ct = s->Make(cos, m, head_dim);
      Buffer st = s->Make(sin, m, head_dim);
      b.Rotary(
          {.x = r.Cols(2, width), .num_heads = heads, .head_dim = head_dim, .cos = ct, .sin = st});
      results[side][1] = s->Get(r);
      Buffer g = s->Make(x, m, k);
      Buffer u = s->Make(std::vector<float>(x.rbegin(), x.rend()), m, k);
      b.SiluMul(g, u);
      results[side][2] = s->Get(g);
      Buffer e = s->Make(x, m, k);
      b.Gelu(e);
      results[side][3] = s->Get(e);
      Buffer a = s->Make(x, m, k), c = s->Make(std::vector<float>(x.rbegin(), x.rend()), m, k);
      b.Add(a, c);
      results[side][4] = s->Get(a);
      ++side;
    }
    for (int op = 0; op < 5; ++op)
      EXPECT_LT(MaxAbsDiff(results[0][op], results[1][op]), 1e-5) << op;
    for (int64_t i = 0; i < m; ++i) {
      EXPECT_EQ(results[0][1][i * (width + 3)], rows[i * (width + 3)]);
      EXPECT_EQ(results[0][1][i * (width + 3) + width + 2], rows[i * (width + 3) + width + 2]);
    }
  }
}

// Plain per-segment softmax attention over [n, 3 · hidden] rows of q, k, v, written out here.
std::vector<float> SegmentReference(const std::vector<float>& qkv, const std::vector<int64_t>& cu,
                                    int64_t heads, int64_t head_dim) {
  const int64_t hidden = heads * head_dim;
  std::vector<float> out(static_cast<size_t>(cu.back() * hidden));
  for (size_t s = 0; s + 1 < cu.size(); ++s) {
    for (int64_t i = cu[s]; i < cu[s + 1]; ++i) {
      for (int64_t h = 0; h < heads; ++h) {
        std::vector<double> w;
        double max = -INFINITY, sum = 0;
        for (int64_t j = cu[s]; j < cu[s + 1]; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < head_dim; ++d) {
            dot += qkv[i * 3 * hidden + h * head_dim + d] *
                   qkv[j * 3 * hidden + hidden + h * head_dim + d];
          }
          w.push_back(dot / std::sqrt(static_cast<double>(head_dim)));
          max = std::max(max, w.back());
        }
        for (double& x : w) sum += (x = std::exp(x - max));
        for (int64_t d = 0; d < head_dim; ++d) {
          double acc = 0;
          for (int64_t j = cu[s]; j < cu[s + 1]; ++j)
            acc += w[j - cu[s]] * qkv[j * 3 * hidden + 2 * hidden + h * head_dim + d];
          out[i * hidden + h * head_dim + d] = static_cast<float>(acc / sum);
        }
      }
    }
  }
  return out;
}

// MatMuls gives each product exactly what MatMul gives it, on both backends: one type (the
// CPU backend then shares the work), mixed types (one at a time), decode and prefill row counts.
TEST_F(BackendOps, MatMulsEqualMatMulOnEach) {
  std::uniform_int_distribution<int64_t> dim(1, 90), rows(1, 20);
  const WeightPrecision kinds[] = {WeightPrecision::kStored, WeightPrecision::kQ8,
                                   WeightPrecision::kQ4};
  for (int trial = 0; trial < 24; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    const int64_t m = rows(rng_), k = dim(rng_) + 1, count = 1 + (trial / 3) % 3;
    const std::vector<float> x = Random(rng_, m * k);
    for (Side* s : {&fast_, &slow_}) {
      std::vector<Weight> weights;
      std::vector<Buffer> one, many;
      std::vector<Backend::Product> products;
      // A stored-precision weight may point into the host matrix: keep them all alive.
      std::vector<std::vector<float>> host(2 * count);
      for (int64_t p = 0; p < count; ++p) {
        const int64_t n = dim(rng_);
        std::vector<float>& w = host[2 * p] = Random(rng_, n * k, 0.2f);
        std::vector<float>& bias = host[2 * p + 1] = Random(rng_, n);
        // Trials 0-11: every product of one precision; 12-23: a different one per product.
        const WeightPrecision precision = kinds[(trial < 12 ? trial : trial + p) % 3];
        const HostMatrix hw{.view = {w.data(), WeightFormat::kF32, n, k}};
        const HostMatrix hb{.view = {bias.data(), WeightFormat::kF32, 1, n}};
        weights.push_back(
            s->b.UploadWeight(hw, p % 2 == 0 ? hb : HostMatrix{}, {.precision = precision}));
        one.push_back(s->b.Allocate(m, n));
        many.push_back(s->b.Allocate(m, n));
      }
      Buffer xt = s->Make(x, m, k);
      for (int64_t p = 0; p < count; ++p) {
        s->b.MatMul(xt, weights[p], one[p]);
        products.push_back({.w = &weights[p], .y = many[p]});
      }
      s->b.MatMuls(xt, products);
      for (int64_t p = 0; p < count; ++p) {
        EXPECT_EQ(s->Get(one[p]), s->Get(many[p])) << s->b.name() << " product " << p;
      }
    }
  }
}

// Segments of the vision encoder's kind (views into one qkv buffer), every schedule of the CPU
// backend and the reference backend, against the written-out attention.
TEST_F(BackendOps, SegmentedAttentionInEverySchedule) {
  constexpr int64_t kHeads = 2, kHeadDim = 80, kHidden = kHeads * kHeadDim;
  const std::vector<int64_t> cu{0, 1, 17, 81, 93, 157, 158, 170, 234, 250, 266};
  const std::vector<float> qkv = Random(rng_, cu.back() * 3 * kHidden);
  const std::vector<float> want = SegmentReference(qkv, cu, kHeads, kHeadDim);
  auto run = [&](Side& s) {
    Buffer t = s.Make(qkv, cu.back(), 3 * kHidden), out = s.b.Allocate(cu.back(), kHidden);
    std::vector<AttentionSegment> segments;
    for (size_t i = 0; i + 1 < cu.size(); ++i) {
      const int64_t b = cu[i], r = cu[i + 1] - cu[i];
      segments.push_back({.q = t.Cols(0, kHidden).Rows(b, r),
                          .k = t.Cols(kHidden, kHidden).Rows(b, r),
                          .v = t.Cols(2 * kHidden, kHidden).Rows(b, r),
                          .out = out.Rows(b, r)});
    }
    s.b.Attention({.segments = segments,
                   .num_heads = kHeads,
                   .num_kv_heads = kHeads,
                   .head_dim = kHeadDim,
                   .scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim)),
                   .causal = false});
    return s.Get(out);
  };
  for (SegmentSchedule schedule :
       {SegmentSchedule::kAuto, SegmentSchedule::kSegments, SegmentSchedule::kQueries}) {
    cpu_.set_segment_schedule(schedule);
    EXPECT_LT(MaxAbsDiff(run(fast_), want), 1e-5) << static_cast<int>(schedule);
  }
  EXPECT_LT(MaxAbsDiff(run(slow_), want), 1e-5);
}

// Causal grouped-query attention of decoder kind: each segment over its own keys, with offsets.
TEST_F(BackendOps, CausalAttentionOverSeparateCaches) {
  constexpr int64_t kHeads = 4, kKvHeads = 2, kHeadDim = 16;
  std::vector<float> outs[2];
  int side = 0;
  const std::vector<int64_t> q_len{5, 1, 3}, kv_len{5, 9, 30};
  std::vector<std::vector<float>> q, k, v;
  for (size_t i = 0; i < q_len.size(); ++i) {
    q.push_back(Random(rng_, q_len[i] * kHeads * kHeadDim));
    k.push_back(Random(rng_, kv_len[i] * kKvHeads * kHeadDim));
    v.push_back(Random(rng_, kv_len[i] * kKvHeads * kHeadDim));
  }
  for (Side* s : {&fast_, &slow_}) {
    std::vector<Buffer> held;
    Buffer out = s->b.Allocate(9, kHeads * kHeadDim);
    std::vector<AttentionSegment> segments;
    int64_t row = 0;
    for (size_t i = 0; i < q_len.size(); ++i) {
      held.push_back(s->Make(q[i], q_len[i], kHeads * kHeadDim));
      held.push_back(s->Make(k[i], kv_len[i], kKvHeads * kHeadDim));
      held.push_back(s->Make(v[i], kv_len[i], kKvHeads * kHeadDim));
      const size_t h = held.size();
      segments.push_back({.q = held[h - 3],
                          .k = held[h - 2],
                          .v = held[h - 1],
                          .out = out.Rows(row, q_len[i]),
                          .q_offset = kv_len[i] - q_len[i]});
      row += q_len[i];
    }
    s->b.Attention({.segments = segments,
                    .num_heads = kHeads,
                    .num_kv_heads = kKvHeads,
                    .head_dim = kHeadDim,
                    .scale = 0.25f,
                    .causal = true});
    outs[side++] = s->Get(out);
  }
  EXPECT_LT(MaxAbsDiff(outs[0], outs[1]), 1e-5);
}

}  // namespace
}  // namespace qwenvl::compute
