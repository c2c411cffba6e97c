// libFuzzer target for the text completion request parser (src/server/completion_schema.cc): any
// byte string as a POST /v1/completions body must give either prompts and fields within the
// schema's limits or an ApiError whose JSON form the server can send; another exception, a crash
// or a sanitizer report is a bug. A byte tokenizer stands in for the model's (id = byte value,
// vocabulary 300). Seeds: fuzz/corpus/completion_schema/.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/api_error.h"
#include "server/completion_schema.h"
#include "util/error.h"

namespace {

constexpr int64_t kVocab = 300;

qwenvl::server::SchemaOptions Options() {
  qwenvl::server::SchemaOptions o;
  o.model_name = "qwen";
  o.served_names = {"qwen"};
  o.context_length = 512;
  o.max_choices = 8;
  return o;
}

qwenvl::server::PromptTokenizer Bytes() {
  qwenvl::server::PromptTokenizer t;
  t.tokenize = [](std::string_view text) {
    std::vector<qwenvl::TokenId> ids;
    for (const char c : text) ids.push_back(static_cast<unsigned char>(c));
    return ids;
  };
  t.detokenize = [](const std::vector<qwenvl::TokenId>& ids) {
    std::string text;
    for (const qwenvl::TokenId id : ids) text.push_back(static_cast<char>(id & 0xff));
    return text;
  };
  t.vocab_size = kVocab;
  return t;
}

// What the parser promises about a request it accepted.
void CheckAccepted(const qwenvl::server::CompletionRequest& c,
                   const qwenvl::server::SchemaOptions& o) {
  const qwenvl::SamplingParams& s = c.sampling;
  QWENVL_CHECK(s.max_new_tokens >= 1 && s.max_new_tokens <= o.context_length);
  QWENVL_CHECK(s.logprobs >= -1 && s.logprobs <= 5);
  QWENVL_CHECK(!(c.echo && s.logprobs >= 0));
  QWENVL_CHECK(c.fields.n >= 1);
  QWENVL_CHECK(!c.prompts.empty());
  QWENVL_CHECK(c.prompts.size() * static_cast<size_t>(c.fields.n) <=
               static_cast<size_t>(o.max_choices));
  QWENVL_CHECK(c.fields.model.empty() || c.fields.model == "qwen");
  for (const auto& p : c.prompts) {
    QWENVL_CHECK(!p.ids.empty() && static_cast<int64_t>(p.ids.size()) < o.context_length);
    for (const qwenvl::TokenId id : p.ids) QWENVL_CHECK(id >= 0 && id < kVocab);
    QWENVL_CHECK(c.echo || p.text.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  static const qwenvl::server::SchemaOptions options = Options();
  static const qwenvl::server::PromptTokenizer tokenizer = Bytes();
  try {
    CheckAccepted(qwenvl::server::ParseCompletionRequest(body, options, tokenizer), options);
  } catch (const qwenvl::server::ApiError& e) {
    QWENVL_CHECK(e.status() == 400 || e.status() == 404);
    (void)e.ToJson().dump();  // the server sends it: it must serialize
  }
  return 0;
}
