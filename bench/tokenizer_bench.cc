// Tokenizer speed on one core: encoding 1 MB of mixed text (the fixture and generated strings of
// tests/data/tokenizer plus a generated prose/code/CJK document), decoding its ids, and loading
// tokenizer.json. Encode and decode report bytes of text per second.
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "text/tokenizer.h"
#include "util/mapped_file.h"

namespace {

using qwenvl::text::Tokenizer;

const std::string kModelDir = QWENVL_SOURCE_DIR "/tests/data/qwen2.5-vl-3b-instruct";

const Tokenizer& BenchTokenizer() {
  static const Tokenizer tokenizer = Tokenizer::FromModelDir(kModelDir);
  return tokenizer;
}

// About 1 MB: every test string once, then a repeating document mixing English prose, code, CJK,
// Cyrillic, numbers, whitespace runs and emoji, with a counter so that words vary.
std::string MixedText() {
  std::string text;
  for (const char* file : {"cases.json", "peer-vectors.json", "generated.json"}) {
    const auto json = nlohmann::json::parse(
        qwenvl::ReadFileToString(QWENVL_SOURCE_DIR "/tests/data/tokenizer/" + std::string(file)));
    for (const auto& c : json["cases"]) text += c["text"].get<std::string>() + "\n";
  }
  for (int i = 0; text.size() < (1 << 20); ++i) {
    text += "Paragraph " + std::to_string(i) +
            ": The quick brown fox jumps over the lazy dog, again and again.\n"
            "def step_" +
            std::to_string(i % 97) + "(x):\n    return x * " + std::to_string(i) +
            "  # multiply\n"
            "通义千问是一个大型语言模型，第" +
            std::to_string(i) +
            "段。日本語のテキスト。\n"
            "Съешь же ещё этих мягких французских булок.   Emoji "
            "😀👍🏽 "
            "and "
            "🇯🇵!\n\n";
  }
  text.resize(1 << 20);
  return text;
}

void BM_TokenizerEncode1MB(benchmark::State& state) {
  const Tokenizer& tok = BenchTokenizer();
  const std::string text = MixedText();
  size_t ids = 0;
  for (auto _ : state) {
    const std::vector<qwenvl::TokenId> out = tok.Encode(text);
    ids = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(ids);
}
BENCHMARK(BM_TokenizerEncode1MB)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_TokenizerDecode1MB(benchmark::State& state) {
  const Tokenizer& tok = BenchTokenizer();
  const std::string text = MixedText();
  const std::vector<qwenvl::TokenId> ids = tok.Encode(text);
  for (auto _ : state) {
    const std::string out = tok.Decode(ids);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_TokenizerDecode1MB)->Unit(benchmark::kMillisecond);

void BM_TokenizerLoad(benchmark::State& state) {
  for (auto _ : state) {
    const Tokenizer tok = Tokenizer::FromModelDir(kModelDir);
    benchmark::DoNotOptimize(tok.vocab_size());
  }
}
BENCHMARK(BM_TokenizerLoad)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
