// SAX reading of tokenizer.json (see tokenizer_json_sax.h).
#include "text/tokenizer_json_sax.h"

#include <utility>

#include "util/error.h"

namespace qwenvl::text {
namespace {

using nlohmann::json;

// Receives nlohmann's SAX events. Outside the two big tables it builds a DOM: `open_` holds the
// open containers (each stays put while open: a map node never moves, and an array only grows after
// its open last element has been closed).
class PartsHandler {
 public:
  explicit PartsHandler(TokenizerJsonParts* parts) : parts_(parts) {}

  bool null() { return Value(json(nullptr)); }
  bool boolean(bool v) { return Value(json(v)); }
  bool number_integer(json::number_integer_t v) { return Id(v) || Value(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) {
    return Id(static_cast<json::number_integer_t>(v)) || Value(json(v));
  }
  bool number_float(json::number_float_t v, const std::string&) { return Value(json(v)); }
  bool string(std::string& v) { return Merge(v) || Value(json(std::move(v))); }
  bool binary(json::binary_t&) { return Fail("binary value"); }
  bool start_object(size_t) { return Open(json::object()); }
  bool end_object() { return Close(); }
  bool start_array(size_t) { return Open(json::array()); }
  bool end_array() { return Close(); }
  bool key(std::string& k) {
    if (mode_ == Mode::kVocab) {
      vocab_key_ = std::move(k);
    } else {
      key_ = std::move(k);
    }
    return true;
  }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception& e) {
    error_ = std::string("malformed JSON: ") + e.what();
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  enum class Mode { kDom, kVocab, kMerges, kMergePair };

  bool Fail(const std::string& message) {
    if (error_.empty()) error_ = message;
    return false;
  }
  // True when the container being opened is model.<name>.
  bool AtModelKey(const char* name) const {
    return open_.size() == 2 && path_[1] == "model" && open_.back()->is_object() && key_ == name;
  }
  bool Id(json::number_integer_t v) {
    if (mode_ != Mode::kVocab) return false;
    if (v < 0 || !std::in_range<TokenId>(v))
      return Fail("model.vocab id out of range: " + std::to_string(v));
    parts_->vocab.emplace_back(std::move(vocab_key_), static_cast<TokenId>(v));
    return true;
  }
  bool Merge(std::string& v);
  bool Value(json&& v);
  bool Open(json&& container);
  bool Close();

  TokenizerJsonParts* parts_;
  std::vector<json*> open_;
  std::vector<std::string> path_;  // key (or "") under which each open container sits
  std::string key_;
  std::string vocab_key_;
  std::vector<std::string> pair_;  // the parts of an [a, b] merge being read
  Mode mode_ = Mode::kDom;
  std::string error_;
};

bool PartsHandler::Merge(std::string& v) {
  if (mode_ == Mode::kMergePair) {
    pair_.push_back(std::move(v));
    return true;
  }
  if (mode_ != Mode::kMerges) return false;
  // "left right": byte-level tokens never hold a raw space, so there is exactly one.
  const size_t space = v.find(' ');
  if (space == std::string::npos || v.find(' ', space + 1) != std::string::npos) {
    return Fail("model.merges entry '" + v + "' is not two tokens");
  }
  parts_->merges.emplace_back(v.substr(0, space), v.substr(space + 1));
  return true;
}

bool PartsHandler::Value(json&& v) {
  if (mode_ != Mode::kDom) return Fail("unexpected value " + v.dump() + " in model.vocab/merges");
  if (open_.empty()) {
    parts_->rest = std::move(v);
  } else if (open_.back()->is_object()) {
    (*open_.back())[key_] = std::move(v);
  } else {
    open_.back()->push_back(std::move(v));
  }
  return true;
}

bool PartsHandler::Open(json&& container) {
  if (mode_ == Mode::kMerges && container.is_array()) {
    mode_ = Mode::kMergePair;
    pair_.clear();
    return true;
  }
  if (mode_ != Mode::kDom) return Fail("unexpected nesting in model.vocab/merges");
  if (container.is_object() && AtModelKey("vocab")) {
    mode_ = Mode::kVocab;
    parts_->has_vocab = true;
    return true;
  }
  if (container.is_array() && AtModelKey("merges")) {
    mode_ = Mode::kMerges;
    parts_->has_merges = true;
    return true;
  }
  json* slot = nullptr;
  if (open_.empty()) {
    parts_->rest = std::move(container);
    slot = &parts_->rest;
  } else if (open_.back()->is_object()) {
    slot = &((*open_.back())[key_] = std::move(container));
  } else {
    open_.back()->push_back(std::move(container));
    slot = &open_.back()->back();
  }
  path_.push_back(open_.empty() || !open_.back()->is_object() ? "" : key_);
  open_.push_back(slot);
  return true;
}

bool PartsHandler::Close() {
  switch (mode_) {
    case Mode::kVocab:
    case Mode::kMerges:
      mode_ = Mode::kDom;
      return true;
    case Mode::kMergePair:
      if (pair_.size() != 2) return Fail("model.merges entry is not a pair of tokens");
      parts_->merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
      mode_ = Mode::kMerges;
      return true;
    case Mode::kDom:
      open_.pop_back();
      path_.pop_back();
      return true;
  }
  return false;
}

}  // namespace

TokenizerJsonParts ReadTokenizerJsonParts(std::string_view json_text, const std::string& source) {
  TokenizerJsonParts parts;
  PartsHandler handler(&parts);
  bool ok = false;
  try {
    ok = json::sax_parse(json_text.begin(), json_text.end(), &handler);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kCorruptFile, source + ": malformed JSON: " + e.what());
  }
  if (!ok) {
    const std::string what = handler.error().empty() ? "malformed JSON" : handler.error();
    throw Error(ErrorCode::kCorruptFile, source + ": " + what);
  }
  return parts;
}

}  // namespace qwenvl::text
