// Constrained decoding cost on Qwen2.5-VL's 151,936-token vocabulary, per answer token: the token
// mask of the parser state (computed once per state, then a lookup), the logits masked, the chosen
// token fed back. Answers are real tokenizations of typical constrained outputs:
//   Cold: a fresh compiled grammar per answer (the first request with a new schema: every mask
//         is computed), compile time included.
//   Warm: the same compiled grammar again (a client that sends the same schema each time).
// Reported per token: real time / tokens (the "per_token" counter, in seconds).
#include <benchmark/benchmark.h>

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "grammar/gbnf.h"
#include "grammar/json_schema.h"
#include "grammar/matcher.h"
#include "runtime/constraint.h"
#include "text/tokenizer.h"

namespace {

using namespace qwenvl;

const text::Tokenizer& BenchTokenizer() {
  static const text::Tokenizer t =
      text::Tokenizer::FromModelDir(QWENVL_SOURCE_DIR "/tests/data/qwen2.5-vl-3b-instruct");
  return t;
}

std::shared_ptr<const grammar::TokenVocabulary> Vocabulary() {
  static const auto v = [] {
    std::vector<std::string> bytes(151936);
    const text::Tokenizer& t = BenchTokenizer();
    for (TokenId id = 0; id < t.vocab_size(); ++id)
      if (!t.IsSpecial(id)) t.AppendTokenBytes(id, false, &bytes[id]);
    return std::make_shared<const grammar::TokenVocabulary>(std::move(bytes),
                                                            std::vector<TokenId>{151645, 151643});
  }();
  return v;
}

struct Workload {
  std::string gbnf;
  std::string answer;
};

Workload Receipt() {
  return {
      grammar::JsonSchemaToGbnf(R"({"type":"object","properties":{
      "store":{"type":"string"},"date":{"type":"string","format":"date"},
      "items":{"type":"array","items":{"type":"object","properties":{
        "name":{"type":"string"},"qty":{"type":"integer"},"price":{"type":"number"}},
        "required":["name","qty","price"],"additionalProperties":false}},
      "total":{"type":"number"}},"required":["store","date","items","total"],
      "additionalProperties":false})"),
      R"j({"store": "Corner Market", "date": "2026-12-06", "items": [{"name": "Whole milk 1L", "qty": 2, "price": 1.19}, {"name": "Rye bread", "qty": 1, "price": 2.49}, {"name": "Free-range eggs (10)", "qty": 1, "price": 3.99}, {"name": "Bananas", "qty": 6, "price": 0.25}], "total": 10.36})j"};
}

Workload Grounding() {
  return {grammar::GroundingGbnf(),
          "```json\n[{\"bbox_2d\": [12, 40, 220, 318], \"label\": \"red circle\"}, {\"bbox_2d\": "
          "[300, 52, 410, 160], \"label\": \"blue square\"}, {\"point_2d\": [512, 388], \"label\": "
          "\"green triangle\"}]\n```"};
}

void RunAnswer(grammar::CompiledGrammar& g, const std::vector<TokenId>& ids,
               std::vector<float>& logits) {
  grammar::GrammarMatcher m(std::shared_ptr<grammar::CompiledGrammar>(&g, [](auto*) {}));
  for (TokenId id : ids) {
    runtime::ApplyTokenMask(*m.Mask(), logits);
    if (!m.Accept(id)) std::abort();  // the answer must be in the language
  }
  runtime::ApplyTokenMask(*m.Mask(), logits);
  benchmark::DoNotOptimize(logits.data());
}

void Bench(benchmark::State& state, Workload (*make)(), bool warm) {
  const Workload w = make();
  const std::vector<TokenId> ids = BenchTokenizer().Encode(w.answer);
  auto vocab = Vocabulary();
  std::vector<float> logits(151936, 0.0f);
  std::unique_ptr<grammar::CompiledGrammar> g;
  if (warm) {
    g = std::make_unique<grammar::CompiledGrammar>(grammar::ParseGbnf(w.gbnf), vocab);
    RunAnswer(*g, ids, logits);
  }
  for (auto _ : state) {
    if (!warm) g = std::make_unique<grammar::CompiledGrammar>(grammar::ParseGbnf(w.gbnf), vocab);
    RunAnswer(*g, ids, logits);
  }
  state.counters["tokens"] = static_cast<double>(ids.size());
  state.counters["per_token"] =
      benchmark::Counter(static_cast<double>(ids.size()) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["masks"] = static_cast<double>(g->masks_computed());
}

BENCHMARK_CAPTURE(Bench, receipt_cold, Receipt, false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(Bench, receipt_warm, Receipt, true)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(Bench, grounding_cold, Grounding, false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(Bench, grounding_warm, Grounding, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
