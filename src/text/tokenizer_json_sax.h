// Fast reading of tokenizer.json. A DOM of the 11 MB Qwen file costs more than the rest of loading
// together (300k JSON nodes in std::maps for the vocabulary and merges), so this SAX pass streams
// model.vocab and model.merges straight into vectors and builds a DOM only for everything else.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "qwenvl/token_id.h"

namespace qwenvl::text {

struct TokenizerJsonParts {
  nlohmann::json rest;  // the whole document without model.vocab and model.merges
  bool has_vocab = false;
  bool has_merges = false;
  std::vector<std::pair<std::string, TokenId>> vocab;       // model.vocab in file order
  std::vector<std::pair<std::string, std::string>> merges;  // model.merges, either form
};

// Throws Error(kCorruptFile) naming `source` when the text is not JSON, or when model.vocab or
// model.merges do not have the expected shape.
TokenizerJsonParts ReadTokenizerJsonParts(std::string_view json_text, const std::string& source);

}  // namespace qwenvl::text
