#include "model/decoder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "model/qwen2_5_vl.h"
#include "model/replay_case.h"
#include "test_models.h"
#include "util/error.h"

namespace qwenvl::model {
namespace {

using testing::kCaseDir;
using testing::TestModels;

// Different chunkings and the decode path reorder no sums inside a row, but matmul kernels may
// take other code paths for other row counts.
constexpr double kPathTolerance = 1e-4;

double MaxAbsDiff(std::span<const float> a, std::span<const float> b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    m = std::max(m, std::abs(static_cast<double>(a[i]) - b[i]));
  }
  return m;
}

PromptInput TextPrompt(std::span<const TokenId> ids) { return {.input_ids = ids}; }

// All prompt logits [n, vocab] of a fresh session, prefilled in chunks of chunk_rows.
std::vector<float> AllLogits(const Model& model, std::span<const TokenId> ids, int64_t chunk_rows) {
  Sequence session(model, static_cast<int64_t>(ids.size()));
  std::vector<float> out;
  AppendOptions options{.logit_rows = LogitRows::kAll,
                        .chunk_rows = chunk_rows,
                        .on_logits = [&](int64_t, int64_t, std::span<const float> l) {
                          out.insert(out.end(), l.begin(), l.end());
                        }};
  session.Append(TextPrompt(ids), options);
  return out;
}

TEST(Decoder, ChunkedPrefillMatchesOnePass) {
  const Model& model = TestModels::Get("small");
  const ReplayCase c = LoadReplayCase(kCaseDir + "/small.text.json");
  const std::vector<float> whole = AllLogits(model, c.input_ids, 1024);
  const std::vector<float> chunked = AllLogits(model, c.input_ids, 3);
  ASSERT_EQ(whole.size(), c.input_ids.size() * 2048);
  EXPECT_LT(MaxAbsDiff(whole, chunked), kPathTolerance);
}

// Decode steps through the KV cache give the logits a prefill of the longer prompt gives (§5.4).
TEST(Decoder, DecodeStepsMatchPrefill) {
  const Model& model = TestModels::Get("small");
  const ReplayCase c = LoadReplayCase(kCaseDir + "/small.image.json");
  std::vector<TokenId> ids = c.input_ids;
  ids.insert(ids.end(), c.greedy_ids.begin(), c.greedy_ids.begin() + 3);
  PromptInput longer = c.Prompt();
  longer.input_ids = ids;

  Sequence full(model, 512);
  full.Append(longer, {});
  Sequence stepped(model, 512);
  stepped.Append(c.Prompt(), {});
  EXPECT_EQ(stepped.rope_delta(), *c.rope_delta);
  for (int i = 0; i < 3; ++i) stepped.Step(c.greedy_ids[i]);
  EXPECT_EQ(stepped.length(), full.length());
  EXPECT_EQ(stepped.rope_delta(), full.rope_delta());
  EXPECT_LT(MaxAbsDiff(stepped.logits(), full.logits()), kPathTolerance);
}

// A second Append continues the sequence: positions and logits as if the whole prompt came at
// once (multi-turn reuse of the cache), whether the image is in the first turn or the second.
TEST(Decoder, SecondTurnContinuesTheSequence) {
  const Model& model = TestModels::Get("small");
  const ReplayCase c = LoadReplayCase(kCaseDir + "/small.image.json");
  Sequence whole(model, 256);
  const PositionIds all = whole.Append(c.Prompt(), {});
  const std::span<const TokenId> ids = c.input_ids;
  const int64_t vision_start =
      std::find(ids.begin(), ids.end(), model.config().vision_start_token_id) - ids.begin();
  for (const int64_t split : {static_cast<int64_t>(ids.size()) - 4, vision_start}) {
    SCOPED_TRACE(split);
    const bool image_first = split > vision_start;
    PromptInput first = image_first ? c.Prompt() : TextPrompt({});
    first.input_ids = ids.first(split);
    PromptInput second = image_first ? TextPrompt({}) : c.Prompt();
    second.input_ids = ids.subspan(split);
    Sequence turns(model, 256);
    turns.Append(first, {});
    const PositionIds tail = turns.Append(second, {});
    EXPECT_EQ(tail.t, std::vector<int64_t>(all.t.begin() + split, all.t.end()));
    EXPECT_EQ(tail.h, std::vector<int64_t>(all.h.begin() + split, all.h.end()));
    EXPECT_EQ(tail.w, std::vector<int64_t>(all.w.begin() + split, all.w.end()));
    EXPECT_EQ(turns.rope_delta(), whole.rope_delta());
    EXPECT_LT(MaxAbsDiff(turns.logits(), whole.logits()), kPathTolerance);
  }
}

TEST(Decoder, PromptLongerThanTheCacheIsAnError) {
  const Model& model = TestModels::Get("small");
  const std::vector<TokenId> ids(9, 7);
  Sequence session(model, 8);
  try {
    session.Append(TextPrompt(ids), {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfRange);
  }
  EXPECT_EQ(session.length(), 0);
  session.Append(TextPrompt(std::span(ids).first(8)), {});
  EXPECT_EQ(session.length(), 8);
  EXPECT_THROW(session.Step(7), Error);  // the ninth token does not fit either
  EXPECT_EQ(session.length(), 8);
}

TEST(Decoder, BadPromptsAreErrors) {
  const Model& model = TestModels::Get("small");
  const TokenId image = model.config().image_token_id, start = model.config().vision_start_token_id;
  Sequence session(model, 32);
  EXPECT_THROW(session.Append(TextPrompt({}), {}), Error);  // nothing to prefill
  const std::vector<TokenId> out_of_vocab = {1, 2048};
  EXPECT_THROW(session.Append(TextPrompt(out_of_vocab), {}), Error);
  // Pad tokens without the features to put there (§4: counts must match).
  const std::vector<TokenId> pads = {start, image, image, image, image};
  EXPECT_THROW(session.Append(TextPrompt(pads), {}), Error);
  const std::vector<GridThw> grid = {{1, 4, 4}};
  const std::vector<float> pixels(16 * 1176, 0.0f);
  PromptInput wrong = {.input_ids = std::span(pads).first(3), .images = {pixels, grid}};
  EXPECT_THROW(session.Append(wrong, {}), Error);
  EXPECT_EQ(session.length(), 0);
}

TEST(Decoder, EmbedConvertsStoredRows) {
  const Model& model = TestModels::Get("tiny");
  const Decoder& d = model.decoder();
  EXPECT_EQ(d.vocab_size(), 151936);
  std::vector<float> row(d.hidden());
  const TokenId id = 151655;
  const compute::Buffer out = d.backend().Allocate(1, d.hidden());
  d.Embed(std::span(&id, 1), out);
  d.backend().Download(out, row);
  // Embedding values are (2u − 1)·0.5 (fixtures README), so within [−0.5, 0.5] and not all zero.
  EXPECT_TRUE(std::all_of(row.begin(), row.end(), [](float v) { return std::abs(v) <= 0.5f; }));
  EXPECT_TRUE(std::any_of(row.begin(), row.end(), [](float v) { return v != 0.0f; }));
}

}  // namespace
}  // namespace qwenvl::model
