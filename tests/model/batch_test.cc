// Sequence::StepBatch (continuous batching) against one-at-a-time Sequence::Step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "model/qwen2_5_vl.h"
#include "model/replay_case.h"
#include "test_models.h"
#include "util/error.h"

namespace qwenvl::model {
namespace {

using testing::kCaseDir;
using testing::TestModels;

// The matmul kernel sums each output element in a fixed order whatever the row count, and
// attention runs per sequence as in Step, so rows should agree to the last bit; the tolerance
// only allows for a kernel path that depends on the row count.
constexpr double kBatchTolerance = 1e-5;

double MaxAbsDiff(std::span<const float> a, std::span<const float> b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    m = std::max(m, std::abs(static_cast<double>(a[i]) - b[i]));
  return m;
}

TokenId Argmax(std::span<const float> logits) {
  return static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

// Three prompts of different lengths, one with an image (positions with a rope_delta, §5.4).
struct Prompts {
  ReplayCase text = LoadReplayCase(kCaseDir + "/small.text.json");
  ReplayCase image = LoadReplayCase(kCaseDir + "/small.image.json");
  std::vector<TokenId> short_ids;
  Prompts() : short_ids(text.input_ids.begin(), text.input_ids.begin() + 5) {}
  std::vector<PromptInput> All() const {
    return {text.Prompt(), image.Prompt(), PromptInput{.input_ids = short_ids}};
  }
};

std::vector<std::unique_ptr<Sequence>> Prefilled(const Model& model, const Prompts& p) {
  std::vector<std::unique_ptr<Sequence>> out;
  for (const PromptInput& prompt : p.All()) {
    out.push_back(std::make_unique<Sequence>(model, 512));
    out.back()->Append(prompt, {});
  }
  return out;
}

// A prompt with an image fed in pieces of 1, 3 and 7 tokens (the scheduler's chunked prefill)
// gives the logits, rope_delta and cache of a whole Append: a decode step afterwards agrees too.
TEST(ContinueAppend, PiecesEqualOneAppend) {
  const Model& model = TestModels::Get("small");
  const Prompts p;
  const PromptInput prompt = p.image.Prompt();
  Sequence whole(model, 512);
  whole.Append(prompt, {});
  const std::span<const float> whole_logits = whole.Step(7);
  const std::vector<float> whole_step(whole_logits.begin(), whole_logits.end());
  for (int64_t piece : {1, 3, 7}) {
    Sequence s(model, 512);
    PendingAppend pending = s.BeginAppend(prompt, {});
    EXPECT_EQ(s.length(), 0);  // nothing fed yet
    int64_t calls = 0;
    while (!s.ContinueAppend(pending, piece, {})) {
      ++calls;
      EXPECT_EQ(s.length(), calls * piece);
    }
    EXPECT_EQ(calls, (pending.size() + piece - 1) / piece - 1);
    EXPECT_EQ(s.rope_delta(), whole.rope_delta()) << piece;
    EXPECT_LE(MaxAbsDiff(s.Step(7), whole_step), kBatchTolerance) << piece;
  }
}

TEST(StepBatch, EqualsSeparateSteps) {
  const Model& model = TestModels::Get("small");
  const Prompts prompts;
  auto single = Prefilled(model, prompts);
  auto batched = Prefilled(model, prompts);
  ASSERT_NE(single[0]->length(), single[1]->length());
  ASSERT_NE(single[1]->rope_delta(), 0);
  std::vector<Sequence*> batch;
  for (auto& s : batched) batch.push_back(s.get());
  double worst = 0;
  for (int step = 0; step < 4; ++step) {
    std::vector<TokenId> tokens;
    for (auto& s : single) tokens.push_back(Argmax(s->logits()));  // greedy continuation
    for (size_t i = 0; i < single.size(); ++i) single[i]->Step(tokens[i]);
    Sequence::StepBatch(batch, tokens);
    for (size_t i = 0; i < single.size(); ++i) {
      SCOPED_TRACE(::testing::Message() << "step " << step << ", sequence " << i);
      EXPECT_EQ(batched[i]->length(), single[i]->length());
      EXPECT_EQ(batched[i]->rope_delta(), single[i]->rope_delta());
      const double diff = MaxAbsDiff(batched[i]->logits(), single[i]->logits());
      worst = std::max(worst, diff);
      EXPECT_LT(diff, kBatchTolerance);
      EXPECT_EQ(Argmax(batched[i]->logits()), Argmax(single[i]->logits()));
    }
  }
  RecordProperty("max_abs_diff", std::to_string(worst));
}

// Sequences leave and join between steps: a batch of two, then of one, continues correctly.
TEST(StepBatch, ChangingMembership) {
  const Model& model = TestModels::Get("small");
  const Prompts prompts;
  auto single = Prefilled(model, prompts);
  auto batched = Prefilled(model, prompts);
  const std::vector<std::vector<size_t>> rounds = {{0, 1, 2}, {2, 0}, {1}, {0, 1, 2}};
  for (const auto& members : rounds) {
    std::vector<Sequence*> batch;
    std::vector<TokenId> tokens;
    for (size_t i : members) {
      tokens.push_back(Argmax(single[i]->logits()));
      single[i]->Step(tokens.back());
      batch.push_back(batched[i].get());
    }
    Sequence::StepBatch(batch, tokens);
  }
  for (size_t i = 0; i < single.size(); ++i) {
    EXPECT_EQ(batched[i]->length(), single[i]->length());
    EXPECT_LT(MaxAbsDiff(batched[i]->logits(), single[i]->logits()), kBatchTolerance);
  }
}

TEST(StepBatch, RejectsBadBatchesBeforeWork) {
  const Model& model = TestModels::Get("small");
  const std::vector<TokenId> ids = {1, 2, 3};
  Sequence a(model, 4), b(model, 512);
  a.Append({.input_ids = ids}, {});
  b.Append({.input_ids = ids}, {});
  Sequence* twice[2] = {&b, &b};
  const TokenId tokens[2] = {5, 6};
  EXPECT_THROW(Sequence::StepBatch(twice, tokens), Error);
  Sequence* one[1] = {&b};
  EXPECT_THROW(Sequence::StepBatch(one, tokens), Error);  // 1 session, 2 tokens
  Sequence::StepBatch(one, std::span(tokens, 1));
  Sequence* both[2] = {&a, &b};
  Sequence::StepBatch(both, tokens);  // a reaches its capacity of 4
  EXPECT_THROW(Sequence::StepBatch(both, tokens), Error);
  EXPECT_EQ(a.length(), 4);
  EXPECT_EQ(b.length(), 5);  // untouched by the refused step
  const TokenId bad[2] = {5, -1};
  Sequence c(model, 512);
  c.Append({.input_ids = ids}, {});
  Sequence* bc[2] = {&b, &c};
  EXPECT_THROW(Sequence::StepBatch(bc, bad), Error);  // id outside the vocabulary
  EXPECT_EQ(b.length(), 5);
}

}  // namespace
}  // namespace qwenvl::model
