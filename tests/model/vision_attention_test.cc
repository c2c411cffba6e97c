#include "model/vision_attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace qwenvl::model {
namespace {

// Plain per-segment softmax attention, written out for the test.
std::vector<float> Reference(const std::vector<float>& qkv, const std::vector<int64_t>& cu,
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
          for (int64_t j = cu[s]; j < cu[s + 1]; ++j) {
            acc += w[j - cu[s]] * qkv[j * 3 * hidden + 2 * hidden + h * head_dim + d];
          }
          out[i * hidden + h * head_dim + d] = static_cast<float>(acc / sum);
        }
      }
    }
  }
  return out;
}

// Both schedules compute each segment on its own and agree with the per-segment reference.
TEST(SegmentedAttention, BothSchedulesMatchThePerSegmentReference) {
  constexpr int64_t kHeads = 2, kHeadDim = 80, kHidden = kHeads * kHeadDim;
  const std::vector<int64_t> cu{0, 1, 17, 81, 93, 157, 158, 170, 234, 250, 266};
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> qkv(static_cast<size_t>(cu.back() * 3 * kHidden));
  for (float& x : qkv) x = dist(rng);
  const std::vector<float> want = Reference(qkv, cu, kHeads, kHeadDim);
  ThreadPool pool(3);
  for (SegmentSchedule schedule :
       {SegmentSchedule::kAuto, SegmentSchedule::kSegments, SegmentSchedule::kQueries}) {
    std::vector<float> got(want.size(), NAN);
    SegmentedAttention({.qkv = qkv.data(),
                        .out = got.data(),
                        .cu_seqlens = cu,
                        .num_heads = kHeads,
                        .head_dim = kHeadDim,
                        .schedule = schedule},
                       pool);
    double max_err = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      max_err = std::max(max_err, static_cast<double>(std::fabs(got[i] - want[i])));
    }
    EXPECT_LT(max_err, 1e-5) << static_cast<int>(schedule);
  }
}

}  // namespace
}  // namespace qwenvl::model
