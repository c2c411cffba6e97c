// Fuzzes the grammar compilers and the matcher: the first byte picks GBNF or JSON Schema (which
// takes the regex converter along), the rest is the text. What compiles is then driven: its masks
// over a small vocabulary, and the tokens they allow fed back. Any outcome but success or
// qwenvl::Error (a crash, a sanitizer report, another exception, a hang) is a bug.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "grammar/gbnf.h"
#include "grammar/json_schema.h"
#include "grammar/matcher.h"
#include "qwenvl/error.h"

namespace {

std::shared_ptr<const qwenvl::grammar::TokenVocabulary> Vocabulary() {
  static const auto v = [] {
    std::vector<std::string> bytes;
    for (int c = 0; c < 256; ++c) bytes.push_back(std::string(1, static_cast<char>(c)));
    for (const char* t :
         {"{\"", "\":", ", \"", "true", "null", "]}", "\xC3\xA9", "\xE4\xB8", "12", "\\n"})
      bytes.push_back(t);
    bytes.push_back("");
    const auto end = static_cast<qwenvl::TokenId>(bytes.size() - 1);
    return std::make_shared<const qwenvl::grammar::TokenVocabulary>(
        std::move(bytes), std::vector<qwenvl::TokenId>{end});
  }();
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 4096) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    const std::string gbnf = data[0] % 2 ? qwenvl::grammar::JsonSchemaToGbnf(text) : text;
    auto g = std::make_shared<qwenvl::grammar::CompiledGrammar>(qwenvl::grammar::ParseGbnf(gbnf),
                                                                Vocabulary());
    qwenvl::grammar::GrammarMatcher m(g);
    // A walk of up to 24 tokens, each the allowed token picked by the input's bytes.
    for (size_t step = 0; step < 24; ++step) {
      const auto mask = m.Mask();
      std::vector<qwenvl::TokenId> allowed;
      for (size_t id = 0; id < mask->size(); ++id)
        if (mask->Test(static_cast<qwenvl::TokenId>(id)))
          allowed.push_back(static_cast<qwenvl::TokenId>(id));
      if (allowed.empty()) break;
      const qwenvl::TokenId pick = allowed[data[step % size] % allowed.size()];
      if (!m.Accept(pick)) __builtin_trap();  // the mask allowed it
      if (m.ended()) break;
    }
  } catch (const qwenvl::Error&) {
  }
  return 0;
}
