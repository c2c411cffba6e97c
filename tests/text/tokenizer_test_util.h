// Shared by the tokenizer tests: the Qwen2.5-VL tokenizer, loaded once per test binary, and the
// JSON case files of tests/data/tokenizer/.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "text/tokenizer.h"
#include "util/mapped_file.h"

namespace qwenvl::text::testing {

inline const std::string kModelDir = QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct";

inline const Tokenizer& QwenTokenizer() {
  static const Tokenizer tokenizer = Tokenizer::FromModelDir(kModelDir);
  return tokenizer;
}

// The "cases" array of tests/data/tokenizer/<name>.
inline nlohmann::json LoadCases(const std::string& name) {
  return nlohmann::json::parse(ReadFileToString(QWENVL_TEST_DATA "/tokenizer/" + name))["cases"];
}

}  // namespace qwenvl::text::testing
