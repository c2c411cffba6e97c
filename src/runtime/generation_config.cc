#include "runtime/generation_config.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <utility>

#include "util/error.h"
#include "util/mapped_file.h"

namespace qwenvl::runtime {

namespace {

template <class T>
void ReadNumber(const nlohmann::json& j, const char* key, const std::string& path, T* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (!it->is_number())
    throw Error(ErrorCode::kCorruptFile, path + ": " + key + " must be a number");
  *out = it->get<T>();
}

}  // namespace

GenerationDefaults ParseGenerationDefaults(const std::string& json_text, const std::string& path,
                                           const std::vector<TokenId>& config_eos) {
  GenerationDefaults g;
  g.eos_token_ids = config_eos;
  auto j = nlohmann::json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw Error(ErrorCode::kCorruptFile, path + ": not a JSON object");
  if (auto it = j.find("do_sample"); it != j.end() && it->is_boolean()) g.do_sample = *it;
  ReadNumber(j, "temperature", path, &g.temperature);
  ReadNumber(j, "top_k", path, &g.top_k);
  ReadNumber(j, "top_p", path, &g.top_p);
  ReadNumber(j, "min_p", path, &g.min_p);
  ReadNumber(j, "repetition_penalty", path, &g.repetition_penalty);
  if (auto it = j.find("eos_token_id"); it != j.end()) {
    std::vector<const nlohmann::json*> ids;
    if (it->is_number_integer()) ids.push_back(&*it);
    if (it->is_array())
      for (const auto& e : *it)
        if (e.is_number_integer()) ids.push_back(&e);
    for (const nlohmann::json* id : ids) {
      // Checked before narrowing (an unsigned one as unsigned): an id beyond TokenId must not wrap
      // around to another token's.
      const bool fits = id->is_number_unsigned() ? std::in_range<TokenId>(id->get<uint64_t>())
                                                 : std::in_range<TokenId>(id->get<int64_t>());
      if (!fits)
        throw Error(ErrorCode::kCorruptFile, path + ": eos_token_id holds " + id->dump() +
                                                 ", outside the range of token ids");
      const auto token = static_cast<TokenId>(id->get<int64_t>());
      if (std::find(g.eos_token_ids.begin(), g.eos_token_ids.end(), token) == g.eos_token_ids.end())
        g.eos_token_ids.push_back(token);
    }
  }
  if (g.temperature < 0 || g.top_p <= 0 || g.top_p > 1 || g.repetition_penalty <= 0)
    throw Error(ErrorCode::kCorruptFile, path + ": sampling values out of range");
  return g;
}

GenerationDefaults LoadGenerationDefaults(const std::string& model_dir,
                                          const std::vector<TokenId>& config_eos) {
  const std::string path = model_dir + "/generation_config.json";
  if (!std::filesystem::exists(path)) {
    GenerationDefaults g;
    g.eos_token_ids = config_eos;
    return g;
  }
  return ParseGenerationDefaults(ReadFileToString(path), path, config_eos);
}

}  // namespace qwenvl::runtime
