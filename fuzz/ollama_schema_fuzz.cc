// libFuzzer target for ollama's request parsers (src/server/ollama_schema.cc): any byte string as
// the body of POST /api/chat, /api/generate or /api/show must give either a request within the
// parser's promises or an ApiError(400) whose JSON form the server can send; another exception, a
// crash or a sanitizer report is a bug. Local files and remote URLs are off, so only base64 and
// data: URIs are decoded. The tokenizer is a byte tokenizer (a token per byte, ids 0..255).
// Seeds: fuzz/corpus/ollama_schema/.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "server/api_error.h"
#include "server/ollama_schema.h"
#include "util/error.h"

namespace {

using qwenvl::ContentPart;
using qwenvl::TokenId;

// The tokenizer and template /api/generate needs (raw prompts, context): bytes as tokens, and
// "role:text" lines as the template.
class ByteTokenizer : public qwenvl::server::EngineClient {
 public:
  std::shared_ptr<qwenvl::RequestHandle> Submit(qwenvl::Request, qwenvl::StreamCallback,
                                                qwenvl::DoneCallback) override {
    QWENVL_CHECK(false && "the parser submits nothing");
    return nullptr;
  }
  std::string model_name() const override { return "qwen"; }
  int64_t context_length() const override { return 4096; }
  std::vector<TokenId> Tokenize(std::string_view text) const override {
    std::vector<TokenId> ids;  // bytes as unsigned: a char past 0x7f is not a negative id
    for (char c : text) ids.push_back(static_cast<unsigned char>(c));
    return ids;
  }
  std::string Detokenize(const std::vector<TokenId>& ids, bool) const override {
    return std::string(ids.begin(), ids.end());
  }
  std::string TokenBytes(TokenId id) const override {
    return id >= 0 && id < 256 ? std::string(1, static_cast<char>(id)) : std::string();
  }
  std::string RenderPrompt(const qwenvl::Request& request) const override {
    std::string out;
    for (const auto& m : request.messages) {
      out += m.role + ":";
      for (const auto& p : m.content) out += p.type == ContentPart::Type::kText ? p.text : "<m>";
      out += "\n";
    }
    return out;
  }
  int64_t vocab_size() const override { return 256; }
  int queue_capacity() const override { return 64; }
};

qwenvl::server::SchemaOptions Options() {
  qwenvl::server::SchemaOptions o;
  o.model_name = "qwen";
  o.context_length = 4096;
  o.max_media_items = 4;
  return o;  // media: local files and remote URLs off, no fetch_url
}

bool InRange(double v, double lo, double hi) { return std::isfinite(v) && v >= lo && v <= hi; }

// What the parsers promise about a request they accepted.
void CheckAccepted(const qwenvl::server::OllamaRequest& r,
                   const qwenvl::server::SchemaOptions& options, bool generate) {
  const qwenvl::Request& request = r.chat.request;
  QWENVL_CHECK(!r.chat.model.empty());
  const qwenvl::SamplingParams& s = request.sampling;
  QWENVL_CHECK(s.max_new_tokens >= 1 && s.max_new_tokens <= options.context_length);
  QWENVL_CHECK(!s.temperature || InRange(*s.temperature, 0, 100));
  QWENVL_CHECK(!s.top_p || (InRange(*s.top_p, 0, 1) && *s.top_p > 0));
  QWENVL_CHECK(!s.top_k || *s.top_k >= 0);
  QWENVL_CHECK(!s.min_p || InRange(*s.min_p, 0, 1));
  QWENVL_CHECK(!s.repetition_penalty || InRange(*s.repetition_penalty, 0.01f, 10));
  QWENVL_CHECK(InRange(s.presence_penalty, -2, 2) && InRange(s.frequency_penalty, -2, 2));
  QWENVL_CHECK(s.stop.size() <= 16);
  for (const std::string& stop : s.stop) QWENVL_CHECK(!stop.empty());
  if (request.constraint.kind == qwenvl::OutputConstraint::Kind::kJsonSchema) {
    QWENVL_CHECK(nlohmann::json::parse(request.constraint.text).is_object());
  }
  if (r.load) return;  // answered without running: the request is not submitted
  if (request.prompt_ids) {
    QWENVL_CHECK(generate && request.messages.empty() && !r.chat.request.prompt_ids->empty());
    for (TokenId id : *request.prompt_ids) QWENVL_CHECK(id >= 0 && id < 256);
    return;
  }
  QWENVL_CHECK(!request.messages.empty());
  int media_count = 0;
  for (const qwenvl::Message& m : request.messages) {
    QWENVL_CHECK(m.role == "system" || m.role == "user" || m.role == "assistant");
    for (const ContentPart& part : m.content) {
      if (part.type != ContentPart::Type::kMedia) continue;
      ++media_count;
      QWENVL_CHECK(!part.media.bytes.empty() && part.media.path.empty());
      QWENVL_CHECK(part.media.frame_paths.empty());
    }
  }
  QWENVL_CHECK(media_count <= options.max_media_items);
  QWENVL_CHECK(!r.return_context || (generate && media_count == 0));
}

template <class F>
void Expect400OrAccepted(F parse) {
  try {
    parse();
  } catch (const qwenvl::server::ApiError& e) {
    QWENVL_CHECK(e.status() == 400);
    // The server sends this as the response body: it must serialize (valid UTF-8 included).
    (void)nlohmann::json{{"error", e.what()}}.dump();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const qwenvl::server::SchemaOptions options = Options();
  static const ByteTokenizer engine;
  Expect400OrAccepted(
      [&] { CheckAccepted(qwenvl::server::ParseOllamaChat(body, options), options, false); });
  Expect400OrAccepted([&] {
    CheckAccepted(qwenvl::server::ParseOllamaGenerate(body, options, engine), options, true);
  });
  Expect400OrAccepted([&] { QWENVL_CHECK(!qwenvl::server::ParseOllamaShow(body).empty()); });
  return 0;
}
