// tokenizer.json -> TokenizerSpec (see tokenizer_json.h).
#include "text/tokenizer_json.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "text/tokenizer_json_sax.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace qwenvl::text {
namespace {

using nlohmann::json;

[[noreturn]] void Unsupported(const std::string& source, const std::string& what) {
  throw Error(ErrorCode::kUnsupported, source + ": unsupported tokenizer: " + what);
}

[[noreturn]] void Corrupt(const std::string& source, const std::string& what) {
  throw Error(ErrorCode::kCorruptFile, source + ": " + what);
}

std::string TypeOf(const json& node) {
  if (!node.is_object() || !node.contains("type") || !node["type"].is_string()) return "";
  return node["type"].get<std::string>();
}

// A boolean option that must have one value for this tokenizer to match the reference.
void RequireFlag(const json& node, const char* key, bool expected, const std::string& source,
                 const std::string& where) {
  if (!node.contains(key) || node[key].is_null()) return;
  if (node[key].get<bool>() != expected) {
    Unsupported(source, where + "." + key + " = " + node[key].dump());
  }
}

void ReadNormalizer(const json& node, TokenizerSpec* spec) {
  if (node.is_null()) return;
  const std::string type = TypeOf(node);
  if (type == "NFC") {
    spec->nfc = true;
  } else if (type == "Sequence") {
    for (const json& child : node.at("normalizers")) ReadNormalizer(child, spec);
  } else {
    Unsupported(spec->source, "normalizer type '" + type + "' (only NFC)");
  }
}

void ReadSplit(const json& node, TokenizerSpec* spec) {
  const json& pattern = node.at("pattern");
  if (!pattern.contains("Regex")) Unsupported(spec->source, "Split pattern " + pattern.dump());
  if (!spec->split_pattern.empty()) Unsupported(spec->source, "more than one Split pre-tokenizer");
  const std::string behavior = node.value("behavior", "");
  if (behavior != "Isolated") Unsupported(spec->source, "Split behavior '" + behavior + "'");
  RequireFlag(node, "invert", false, spec->source, "pre_tokenizer.Split");
  spec->split_pattern = pattern["Regex"].get<std::string>();
  if (spec->split_pattern.empty()) Corrupt(spec->source, "Split pre-tokenizer has an empty regex");
}

// Accepts [Split(Isolated)] then ByteLevel without its own regex or prefix space, the Qwen2 setup.
void ReadPreTokenizer(const json& node, TokenizerSpec* spec) {
  const json steps = TypeOf(node) == "Sequence" ? node.at("pretokenizers") : json::array({node});
  bool byte_level = false;
  for (const json& step : steps) {
    const std::string type = TypeOf(step);
    if (type == "Split" && !byte_level) {
      ReadSplit(step, spec);
    } else if (type == "ByteLevel" && !byte_level) {
      RequireFlag(step, "add_prefix_space", false, spec->source, "pre_tokenizer.ByteLevel");
      RequireFlag(step, "use_regex", false, spec->source, "pre_tokenizer.ByteLevel");
      byte_level = true;
    } else {
      Unsupported(spec->source, "pre_tokenizer step " + step.dump().substr(0, 200));
    }
  }
  if (!byte_level) Unsupported(spec->source, "pre_tokenizer without ByteLevel");
}

void ReadDecoder(const json& node, const std::string& source) {
  if (TypeOf(node) != "ByteLevel") {
    Unsupported(source, "decoder " + node.dump().substr(0, 200) + " (only ByteLevel)");
  }
}

void ReadModel(const json& model, TokenizerJsonParts* parts, TokenizerSpec* spec) {
  const std::string type = model.value("type", "BPE");
  if (type != "BPE") Unsupported(spec->source, "model type '" + type + "' (only BPE)");
  if (model.contains("dropout") && !model["dropout"].is_null()) {
    Unsupported(spec->source, "BPE dropout");
  }
  RequireFlag(model, "byte_fallback", false, spec->source, "model");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && !model[key].is_null() && !model[key].get<std::string>().empty()) {
      Unsupported(spec->source, std::string("model.") + key);
    }
  }
  spec->ignore_merges = model.value("ignore_merges", false);
  if (!parts->has_vocab) Corrupt(spec->source, "model.vocab is missing");
  if (!parts->has_merges) Corrupt(spec->source, "model.merges is missing");
  spec->vocab = std::move(parts->vocab);
  spec->merges = std::move(parts->merges);
}

void ReadAddedTokens(const json& list, TokenizerSpec* spec) {
  for (const json& entry : list) {
    AddedToken token;
    token.content = entry.at("content").get<std::string>();
    // Checked before narrowing: a huge id would otherwise wrap around to another token's. A
    // negative one is refused with the vocabulary's (Tokenizer::FromSpec).
    const auto id = entry.at("id").get<int64_t>();
    if (!std::in_range<TokenId>(id))
      Corrupt(spec->source, "added token '" + token.content + "' has id " + std::to_string(id) +
                                ", beyond the token id range");
    token.id = static_cast<TokenId>(id);
    token.special = entry.value("special", false);
    token.lstrip = entry.value("lstrip", false);
    token.rstrip = entry.value("rstrip", false);
    token.single_word = entry.value("single_word", false);
    token.normalized = entry.value("normalized", false);
    spec->added_tokens.push_back(std::move(token));
  }
}

}  // namespace

TokenizerSpec ParseTokenizerJson(std::string_view json_text, const std::string& source) {
  TokenizerSpec spec;
  spec.source = source;
  TokenizerJsonParts parts = ReadTokenizerJsonParts(json_text, source);
  const json& root = parts.rest;
  if (!root.is_object()) Corrupt(source, "top level is not a JSON object");
  try {
    ReadModel(root.at("model"), &parts, &spec);
    ReadNormalizer(root.value("normalizer", json()), &spec);
    ReadPreTokenizer(root.at("pre_tokenizer"), &spec);
    ReadDecoder(root.at("decoder"), source);
    if (root.contains("added_tokens")) ReadAddedTokens(root["added_tokens"], &spec);
  } catch (const json::exception& e) {
    // A missing key or a value of the wrong type: the message says which.
    Corrupt(source, std::string("not a tokenizer.json as expected: ") + e.what());
  }
  return spec;
}

TokenizerSpec ReadTokenizerJson(const std::string& path) {
  if (!FileExists(path)) throw Error(ErrorCode::kNotFound, path + ": tokenizer file not found");
  const std::string text = ReadFileToString(path);
  return ParseTokenizerJson(text, path);
}

}  // namespace qwenvl::text
