#include "server/ollama_schema.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "server/api_error.h"
#include "server/json_fields.h"
#include "server/media_source.h"
#include "server/structured_output.h"

namespace qwenvl::server {
namespace {

// Ordered: a format schema's properties are answered in the order the client wrote them.
using json = nlohmann::ordered_json;

// ollama reads its fields into Go types: an integer field takes any JSON number with an integral
// value (100 and 100.0 alike, as Go's decoder gives ollama a float64 either way); a fraction or a
// value outside [lo, hi] is refused here rather than truncated or wrapped.
int64_t IntegerValue(const json& v, const std::string& param, int64_t lo, int64_t hi) {
  const std::string expected =
      "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  if (!v.is_number()) WrongType(param, expected, v);
  bool ok;
  if (v.is_number_unsigned()) {
    ok = std::cmp_less_equal(lo, v.get<uint64_t>()) && std::cmp_less_equal(v.get<uint64_t>(), hi);
  } else if (v.is_number_integer()) {
    ok = v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
  } else {
    const double d = v.get<double>();
    if (!std::isfinite(d) || std::floor(d) != d) {
      throw BadRequest(param + " must be " + expected + ", got " + v.dump(), param, "invalid_type");
    }
    // Compared as doubles: 2^63 is exactly representable, so hi + 1 is not within range.
    ok = d >= static_cast<double>(lo) && d < static_cast<double>(hi) + 1.0;
    if (ok) return static_cast<int64_t>(d);
  }
  if (!ok) throw BadRequest(param + " must be " + expected + ", got " + v.dump(), param);
  return v.is_number_unsigned() ? static_cast<int64_t>(v.get<uint64_t>()) : v.get<int64_t>();
}

double NumberValue(const json& v, const std::string& param, double lo, double hi) {
  const std::string expected = "a number in [" + RealText(lo) + ", " + RealText(hi) + "]";
  if (!v.is_number()) WrongType(param, expected, v);
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < lo || d > hi) {
    throw BadRequest(param + " must be " + expected + ", got " + v.dump(), param);
  }
  return d;
}

const json* Field(const json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

std::optional<std::string> StringField(const json& object, const char* key,
                                       const std::string& param) {
  const json* v = Field(object, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) WrongType(param, "a string", *v);
  return v->get<std::string>();
}

std::optional<bool> BoolField(const json& object, const char* key, const std::string& param) {
  const json* v = Field(object, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) WrongType(param, "a boolean", *v);
  return v->get<bool>();
}

// Go's time.ParseDuration syntax ("5m", "1h30m", "-1s", "300ms", "0"), which ollama's keep_alive
// takes; a bare number ("-1", "3600") is taken as seconds too, as the number form is.
bool IsDuration(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  const auto is_number = [](std::string_view n) {
    return n.find_first_of("0123456789") != std::string_view::npos &&
           std::count(n.begin(), n.end(), '.') <= 1;
  };
  size_t digits = s.find_first_not_of("0123456789.");
  if (digits == std::string_view::npos) return is_number(s);
  // Longer units first, so that "ms" is not read as minutes.
  static constexpr std::string_view kUnits[] = {"ns", "us", "\xc2\xb5s", "\xce\xbcs",
                                                "ms", "h",  "m",         "s"};
  while (!s.empty()) {
    digits = s.find_first_not_of("0123456789.");
    if (digits == std::string_view::npos || !is_number(s.substr(0, digits))) return false;
    s.remove_prefix(digits);
    const auto unit = std::find_if(std::begin(kUnits), std::end(kUnits),
                                   [&](std::string_view u) { return s.starts_with(u); });
    if (unit == std::end(kUnits)) return false;
    s.remove_prefix(unit->size());
  }
  return true;
}

// keep_alive: how long ollama keeps a model loaded after the request. The model here stays loaded
// as long as the server runs, so the value is only checked.
void CheckKeepAlive(const json& body) {
  const json* v = Field(body, "keep_alive");
  if (!v) return;
  if (v->is_number()) {
    if (!std::isfinite(v->get<double>())) WrongType("keep_alive", "a finite number", *v);
    return;
  }
  if (!v->is_string()) {
    WrongType("keep_alive", "a duration string such as \"5m\" or a number of seconds", *v);
  }
  if (!IsDuration(v->get<std::string>())) {
    throw BadRequest(
        "keep_alive must be a duration such as \"5m\", \"1h30m\" or \"-1s\", or a "
        "number of seconds, got " +
            v->dump(),
        "keep_alive");
  }
}

// ollama's options that choose hardware, memory or a sampler this engine does not have: checked
// for their type (ollama refuses a wrong type too) and otherwise ignored.
enum class Kind { kInteger, kNumber, kBool };
struct IgnoredOption {
  const char* name;
  Kind kind;
};
constexpr IgnoredOption kIgnoredOptions[] = {
    {"num_keep", Kind::kInteger},
    {"repeat_last_n", Kind::kInteger},
    {"mirostat", Kind::kInteger},
    {"num_batch", Kind::kInteger},
    {"num_gpu", Kind::kInteger},
    {"main_gpu", Kind::kInteger},
    {"num_thread", Kind::kInteger},
    {"num_gqa", Kind::kInteger},
    {"typical_p", Kind::kNumber},
    {"tfs_z", Kind::kNumber},
    {"mirostat_tau", Kind::kNumber},
    {"mirostat_eta", Kind::kNumber},
    {"rope_frequency_base", Kind::kNumber},
    {"rope_frequency_scale", Kind::kNumber},
    {"penalize_newline", Kind::kBool},
    {"numa", Kind::kBool},
    {"low_vram", Kind::kBool},
    {"f16_kv", Kind::kBool},
    {"logits_all", Kind::kBool},
    {"vocab_only", Kind::kBool},
    {"use_mmap", Kind::kBool},
    {"use_mlock", Kind::kBool},
    {"embedding_only", Kind::kBool},
};

// The range of the integer options other than seed and num_predict: llama.cpp, behind ollama,
// keeps them in 32-bit ints, and so does the sampler here (top_k).
constexpr int64_t kIntMin = std::numeric_limits<int32_t>::min();
constexpr int64_t kIntMax = std::numeric_limits<int32_t>::max();

void ParseStop(const json& v, SamplingParams& s) {
  const std::string param = "options.stop";
  std::vector<std::string> stop;
  if (v.is_string()) {
    stop.push_back(v.get<std::string>());
  } else if (v.is_array()) {
    if (v.size() > 16) throw BadRequest(param + " accepts at most 16 strings", param);
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string()) WrongType(param + "[" + std::to_string(i) + "]", "a string", v[i]);
      stop.push_back(v[i].get<std::string>());
    }
  } else {
    WrongType(param, "a list of strings", v);
  }
  for (size_t i = 0; i < stop.size(); ++i) {
    if (stop[i].empty()) {
      throw BadRequest(param + "[" + std::to_string(i) + "] must not be empty", param);
    }
  }
  s.stop = std::move(stop);
}

// The "options" object: ollama's Modelfile parameters.
void ParseOptions(const json& body, const SchemaOptions& options, SamplingParams& s) {
  const json* o = Field(body, "options");
  if (!o) return;
  if (!o->is_object()) WrongType("options", "an object", *o);
  auto param = [](const char* key) { return std::string("options.") + key; };
  if (const json* v = Field(*o, "temperature")) {
    s.temperature = static_cast<float>(NumberValue(*v, param("temperature"), 0.0, 100.0));
  }
  if (const json* v = Field(*o, "top_k")) {
    // llama.cpp's top_k <= 0 keeps every token, as the sampler's 0 does.
    s.top_k =
        static_cast<int>(std::max<int64_t>(0, IntegerValue(*v, param("top_k"), kIntMin, kIntMax)));
  }
  if (const json* v = Field(*o, "top_p")) {
    const double top_p = NumberValue(*v, param("top_p"), 0.0, 1.0);
    // top_p 0 keeps only the most likely token in llama.cpp (it always keeps one); the sampler
    // here refuses an empty nucleus, so the same choice is asked for as top_k 1.
    if (top_p == 0.0) {
      s.top_k = 1;
    } else {
      s.top_p = static_cast<float>(top_p);
    }
  }
  if (const json* v = Field(*o, "min_p")) {
    s.min_p = static_cast<float>(NumberValue(*v, param("min_p"), 0.0, 1.0));
  }
  if (const json* v = Field(*o, "repeat_penalty")) {
    s.repetition_penalty = static_cast<float>(NumberValue(*v, param("repeat_penalty"), 0.01, 10.0));
  }
  if (const json* v = Field(*o, "presence_penalty")) {
    s.presence_penalty = static_cast<float>(NumberValue(*v, param("presence_penalty"), -2.0, 2.0));
  }
  if (const json* v = Field(*o, "frequency_penalty")) {
    s.frequency_penalty =
        static_cast<float>(NumberValue(*v, param("frequency_penalty"), -2.0, 2.0));
  }
  if (const json* v = Field(*o, "seed")) {
    // ollama's seed -1 (any negative) asks for a random one: no seed.
    const int64_t seed = IntegerValue(*v, param("seed"), std::numeric_limits<int64_t>::min(),
                                      std::numeric_limits<int64_t>::max());
    if (seed >= 0) s.seed = static_cast<uint64_t>(seed);
  }
  if (const json* v = Field(*o, "num_predict")) {
    // -1 (any value <= 0 in ollama's runner) generates until the end of turn or the context; a
    // limit beyond the context is the context.
    const int64_t n = IntegerValue(*v, param("num_predict"), std::numeric_limits<int64_t>::min(),
                                   std::numeric_limits<int64_t>::max());
    s.max_new_tokens = n <= 0 ? options.context_length : std::min(n, options.context_length);
  }
  if (const json* v = Field(*o, "num_ctx")) {
    // Each request has the server's context (--ctx): a larger num_ctx is capped to it, a smaller
    // one does not shrink it (ollama caps num_ctx at the model's trained length the same way).
    IntegerValue(*v, param("num_ctx"), 1, kIntMax);
  }
  if (const json* v = Field(*o, "stop")) ParseStop(*v, s);
  for (const IgnoredOption& ignored : kIgnoredOptions) {
    const json* v = Field(*o, ignored.name);
    if (!v) continue;
    switch (ignored.kind) {
      case Kind::kInteger:
        IntegerValue(*v, param(ignored.name), kIntMin, kIntMax);
        break;
      case Kind::kNumber:
        if (!v->is_number() || !std::isfinite(v->get<double>())) {
          WrongType(param(ignored.name), "a number", *v);
        }
        break;
      case Kind::kBool:
        if (!v->is_boolean()) WrongType(param(ignored.name), "a boolean", *v);
        break;
    }
  }
  // Other keys: ollama logs and ignores options it does not know; so does this server.
}

// "format": "json" (any JSON object) or a JSON schema object; "" or absent: free text.
void ParseFormat(const json& body, OutputConstraint& constraint) {
  const json* v = Field(body, "format");
  if (!v) return;
  if (v->is_string()) {
    const std::string format = v->get<std::string>();
    if (format.empty()) return;
    if (format != "json") {
      throw BadRequest("format must be \"json\" or a JSON schema object, got " + v->dump(),
                       "format");
    }
    constraint.kind = OutputConstraint::Kind::kJsonObject;
    return;
  }
  if (!v->is_object()) WrongType("format", "\"json\" or a JSON schema object", *v);
  constraint.kind = OutputConstraint::Kind::kJsonSchema;
  constraint.text = v->dump();
  CheckConstraintCompiles(constraint, "format");
}

// Fields of both endpoints that this model cannot honour, refused rather than ignored: the client
// would otherwise believe it got what it asked for.
void RefuseUnsupported(const json& body) {
  if (const json* think = Field(body, "think")) {
    if (!think->is_boolean() && !think->is_string()) {
      WrongType("think", "a boolean or \"high\", \"medium\", \"low\"", *think);
    }
    if (*think != false) {
      throw BadRequest(
          "think: Qwen2.5-VL does not support thinking (it has no reasoning mode); "
          "leave think out or send false",
          "think", "unsupported_value");
    }
  }
  if (auto logprobs = BoolField(body, "logprobs", "logprobs"); logprobs && *logprobs) {
    throw BadRequest("logprobs are not supported by this server's ollama API", "logprobs",
                     "unsupported_value");
  }
  if (const json* top = Field(body, "top_logprobs")) {
    if (IntegerValue(*top, "top_logprobs", 0, 20) > 0) {
      throw BadRequest("top_logprobs are not supported by this server's ollama API", "top_logprobs",
                       "unsupported_value");
    }
  }
}

// The fields both endpoints share.
void ParseCommon(const json& body, const SchemaOptions& options, OllamaRequest& out) {
  // ollama answers "model is required" for an absent or empty name. Any name is served: the
  // server has one model, and ollama clients name models by their own tags.
  const auto model = StringField(body, "model", "model");
  if (!model || model->empty()) throw BadRequest("model is required", "model", "missing");
  out.chat.model = *model;
  out.chat.stream = BoolField(body, "stream", "stream").value_or(true);
  CheckKeepAlive(body);
  RefuseUnsupported(body);
  ParseFormat(body, out.chat.request.constraint);
  ParseOptions(body, options, out.chat.request.sampling);
}

// ollama's images: base64 strings (no data: prefix; one is accepted too), each becoming a picture
// placed before the message's text.
void ParseImages(const json& owner, const std::string& param, const SchemaOptions& options,
                 int& media_count, std::vector<ContentPart>& parts) {
  const json* images = Field(owner, "images");
  if (!images) return;
  if (!images->is_array()) WrongType(param, "a list of base64 strings", *images);
  for (size_t i = 0; i < images->size(); ++i) {
    const json& image = (*images)[i];
    const std::string item = param + "[" + std::to_string(i) + "]";
    if (!image.is_string()) WrongType(item, "a base64 string", image);
    if (++media_count > options.max_media_items) {
      throw BadRequest(
          "too many images: at most " + std::to_string(options.max_media_items) + " per request",
          item, "too_many_media");
    }
    const std::string& text = image.get_ref<const std::string&>();
    ContentPart part;
    part.type = ContentPart::Type::kMedia;
    part.media.kind = Media::Kind::kImage;
    if (text.starts_with("data:")) {
      ResolveMediaUrl(text, options.media, item, part.media);
    } else {
      if (text.find("://") != std::string::npos) {
        throw BadRequest(item + " must be the image's bytes in base64, not a URL", item,
                         "invalid_base64");
      }
      part.media.bytes = DecodeBase64(text, item);
      if (part.media.bytes.empty()) throw BadRequest(item + " is empty", item);
    }
    parts.push_back(std::move(part));
  }
}

json ParseBody(std::string_view text) {
  json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) throw BadRequest("request body is not valid JSON", "", "invalid_json");
  if (!body.is_object()) WrongType("body", "a JSON object", body);
  return body;
}

void ParseMessages(const json& body, const SchemaOptions& options, OllamaRequest& out) {
  const json* messages = Field(body, "messages");
  if (!messages || (messages->is_array() && messages->empty())) {
    out.load = true;
    return;
  }
  if (!messages->is_array()) WrongType("messages", "a list", *messages);
  int media_count = 0;
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    const std::string param = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) WrongType(param, "an object", m);
    const auto role = StringField(m, "role", param + ".role");
    if (!role) throw BadRequest(param + ".role is required", param + ".role", "missing");
    if (*role == "tool") {
      throw BadRequest(param + ": tool messages are not supported (this server has no tools)",
                       param + ".role", "unsupported_value");
    }
    if (*role != "system" && *role != "user" && *role != "assistant") {
      throw BadRequest(param + ".role must be system, user or assistant, got '" + *role + "'",
                       param + ".role");
    }
    if (const json* calls = Field(m, "tool_calls")) {
      if (!calls->is_array()) WrongType(param + ".tool_calls", "a list", *calls);
      if (!calls->empty()) {
        throw BadRequest(param + ".tool_calls: tool calls are not supported", param + ".tool_calls",
                         "unsupported_value");
      }
    }
    // A thinking model's reasoning, which ollama leaves out of the prompt of a model that does
    // not think: checked and dropped.
    StringField(m, "thinking", param + ".thinking");
    Message message;
    message.role = *role;
    ParseImages(m, param + ".images", options, media_count, message.content);
    const std::string text = StringField(m, "content", param + ".content").value_or("");
    if (!text.empty() || message.content.empty()) {
      message.content.push_back({ContentPart::Type::kText, text, {}});
    }
    out.chat.request.messages.push_back(std::move(message));
  }
}

// "context": token ids of an earlier /api/generate conversation, each a token of the model.
std::vector<TokenId> ParseContext(const json& body, const SchemaOptions& options,
                                  const EngineClient& engine) {
  const json* context = Field(body, "context");
  if (!context) return {};
  if (!context->is_array()) WrongType("context", "a list of token ids", *context);
  if (std::cmp_greater(context->size(), options.context_length)) {
    throw BadRequest("context holds " + std::to_string(context->size()) +
                         " tokens, more than the server's context of " +
                         std::to_string(options.context_length),
                     "context", "context_length_exceeded");
  }
  std::vector<TokenId> ids;
  ids.reserve(context->size());
  for (size_t i = 0; i < context->size(); ++i) {
    const std::string param = "context[" + std::to_string(i) + "]";
    const int64_t id = IntegerValue((*context)[i], param, 0, std::numeric_limits<TokenId>::max());
    if (engine.TokenBytes(static_cast<TokenId>(id)).empty()) {
      throw BadRequest(param + ": " + std::to_string(id) + " is not a token of the model", param);
    }
    ids.push_back(static_cast<TokenId>(id));
  }
  return ids;
}

}  // namespace

OllamaRequest ParseOllamaChat(std::string_view body_text, const SchemaOptions& options) {
  const json body = ParseBody(body_text);
  OllamaRequest out;
  ParseCommon(body, options, out);
  if (const json* tools = Field(body, "tools")) {
    if (!tools->is_array()) WrongType("tools", "a list", *tools);
    if (!tools->empty()) {
      throw BadRequest("tools are not supported by this server", "tools", "unsupported_value");
    }
  }
  ParseMessages(body, options, out);
  return out;
}

OllamaRequest ParseOllamaGenerate(std::string_view body_text, const SchemaOptions& options,
                                  const EngineClient& engine) {
  const json body = ParseBody(body_text);
  OllamaRequest out;
  ParseCommon(body, options, out);
  const std::string prompt = StringField(body, "prompt", "prompt").value_or("");
  const std::string system = StringField(body, "system", "system").value_or("");
  if (!StringField(body, "suffix", "suffix").value_or("").empty()) {
    throw BadRequest(
        "suffix (fill-in-the-middle) is not supported: Qwen2.5-VL has no infill prompt", "suffix",
        "unsupported_value");
  }
  if (!StringField(body, "template", "template").value_or("").empty()) {
    throw BadRequest(
        "template overrides are not supported: the model's chat template is used "
        "(send raw: true with a prompt already in the template's form)",
        "template", "unsupported_value");
  }
  const bool raw = BoolField(body, "raw", "raw").value_or(false);
  Message user;
  user.role = "user";
  int media_count = 0;
  ParseImages(body, "images", options, media_count, user.content);
  std::vector<TokenId> context = ParseContext(body, options, engine);
  if (raw && media_count > 0) {
    throw BadRequest(
        "images cannot be sent with raw: true (where pictures go in the prompt is "
        "the template's business)",
        "images", "unsupported_value");
  }
  if (raw && !system.empty()) {
    throw BadRequest(
        "system has no effect with raw: true (the prompt is sent as it is); put it "
        "in the prompt",
        "system", "unsupported_value");
  }
  if (!context.empty() && media_count > 0) {
    throw BadRequest(
        "images cannot be sent with a context: a continued conversation is token "
        "ids, which hold no pictures",
        "images", "unsupported_value");
  }
  if (prompt.empty()) {  // ollama's load request, whatever else came with it
    out.load = true;
    return out;
  }
  Request& request = out.chat.request;
  if (raw) {
    std::vector<TokenId> ids = std::move(context);
    const std::vector<TokenId> prompt_ids = engine.Tokenize(prompt);
    ids.insert(ids.end(), prompt_ids.begin(), prompt_ids.end());
    request.prompt_ids = std::move(ids);
    return out;
  }
  if (!system.empty()) {
    Message message;
    message.role = "system";
    message.content.push_back({ContentPart::Type::kText, system, {}});
    request.messages.push_back(std::move(message));
  }
  user.content.push_back({ContentPart::Type::kText, prompt, {}});
  request.messages.push_back(std::move(user));
  out.return_context = media_count == 0;
  if (!context.empty()) {
    // As ollama does: the earlier conversation's tokens, then this turn through the template.
    std::vector<TokenId> ids = std::move(context);
    const std::vector<TokenId> turn = engine.Tokenize(engine.RenderPrompt(request));
    ids.insert(ids.end(), turn.begin(), turn.end());
    request.prompt_ids = std::move(ids);
    request.messages.clear();
  }
  return out;
}

std::string ParseOllamaShow(std::string_view body_text) {
  const json body = ParseBody(body_text);
  auto model = StringField(body, "model", "model");
  if (!model || model->empty()) model = StringField(body, "name", "name");
  if (!model || model->empty()) throw BadRequest("model is required", "model", "missing");
  BoolField(body, "verbose", "verbose");
  return *model;
}

}  // namespace qwenvl::server
