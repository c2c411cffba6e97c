#include "server/openai_schema.h"

#include <nlohmann/json.hpp>

#include "server/api_error.h"

namespace qwenvl::server {
namespace {

using nlohmann::json;

const char* TypeName(const json& v) { return v.type_name(); }

[[noreturn]] void WrongType(const std::string& param, const char* expected, const json& v) {
  throw BadRequest(param + " must be " + expected + ", got " + TypeName(v), param, "invalid_type");
}

// Typed readers of optional fields: absent or null leaves `out` untouched.
template <typename T>
bool ReadNumber(const json& object, const char* key, const std::string& param, T& out) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return false;
  if constexpr (std::is_integral_v<T>) {
    if (!it->is_number_integer()) WrongType(param, "an integer", *it);
  } else {
    if (!it->is_number()) WrongType(param, "a number", *it);
  }
  out = it->get<T>();
  return true;
}

template <typename T>
bool ReadNumber(const json& object, const char* key, const std::string& param,
                std::optional<T>& out) {
  T value{};
  if (!ReadNumber(object, key, param, value)) return false;
  out = value;
  return true;
}

bool ReadBool(const json& object, const char* key, bool& out) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return false;
  if (!it->is_boolean()) WrongType(key, "a boolean", *it);
  out = it->get<bool>();
  return true;
}

template <typename T>
void CheckRange(T value, T lo, T hi, const std::string& param) {
  if (value < lo || value > hi) {
    throw BadRequest(param + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                         "], got " + std::to_string(value),
                     param);
  }
}

// qwen-vl-utils / LMDeploy preprocessing keys, read from `object` (the part or its url object).
void ReadMediaOptions(const json& object, const std::string& param, const SchemaOptions& options,
                      Media& media) {
  const int64_t max_px = options.max_image_pixels;
  if (ReadNumber(object, "min_pixels", param + ".min_pixels", media.min_pixels)) {
    CheckRange<int64_t>(*media.min_pixels, 1, max_px, param + ".min_pixels");
  }
  if (ReadNumber(object, "max_pixels", param + ".max_pixels", media.max_pixels)) {
    CheckRange<int64_t>(*media.max_pixels, 1, max_px, param + ".max_pixels");
  }
  if (media.min_pixels && media.max_pixels && *media.min_pixels > *media.max_pixels) {
    throw BadRequest(param + ".min_pixels is larger than max_pixels", param + ".min_pixels");
  }
  if (ReadNumber(object, "resized_height", param + ".resized_height", media.resized_height)) {
    CheckRange<int64_t>(*media.resized_height, 1, 32768, param + ".resized_height");
  }
  if (ReadNumber(object, "resized_width", param + ".resized_width", media.resized_width)) {
    CheckRange<int64_t>(*media.resized_width, 1, 32768, param + ".resized_width");
  }
  if (media.resized_height && media.resized_width &&
      *media.resized_height * *media.resized_width > max_px) {
    throw BadRequest(param + ": resized_height x resized_width exceeds the image pixel budget of " +
                         std::to_string(max_px),
                     param + ".resized_height", "image_too_large");
  }
  if (ReadNumber(object, "fps", param + ".fps", media.fps)) {
    CheckRange<double>(*media.fps, 1e-3, 240.0, param + ".fps");
  }
  if (ReadNumber(object, "nframes", param + ".nframes", media.nframes)) {
    CheckRange<int64_t>(*media.nframes, 2, 768, param + ".nframes");
  }
  ReadNumber(object, "min_frames", param + ".min_frames", media.min_frames);
  ReadNumber(object, "max_frames", param + ".max_frames", media.max_frames);
  ReadNumber(object, "total_pixels", param + ".total_pixels", media.total_pixels);
}

// The URL of an image_url / video_url part: a string or {"url": string, ...}.
std::string PartUrl(const json& value, const std::string& param) {
  if (value.is_string()) return value.get<std::string>();
  if (!value.is_object()) WrongType(param, "an object with a \"url\" string", value);
  auto url = value.find("url");
  if (url == value.end() || !url->is_string()) {
    throw BadRequest(param + ".url must be a string", param + ".url", "invalid_type");
  }
  return url->get<std::string>();
}

ContentPart ParseMediaPart(const json& part, const std::string& type, const std::string& param,
                           const SchemaOptions& options, ChatRequest& out) {
  ContentPart cp;
  cp.type = ContentPart::Type::kMedia;
  const bool is_video = type == "video_url" || type == "video";
  cp.media.kind = is_video ? Media::Kind::kVideo : Media::Kind::kImage;
  auto value = part.find(type);
  if (value == part.end()) throw BadRequest(param + "." + type + " is missing", param + "." + type);
  const std::string field = param + "." + type;
  ReadMediaOptions(part, param, options, cp.media);
  if (value->is_object()) ReadMediaOptions(*value, field, options, cp.media);
  if (type == "video" && value->is_array()) {
    if (value->size() < 2 || value->size() > 768) {
      throw BadRequest(field + " must list 2 to 768 frames, got " + std::to_string(value->size()),
                       field);
    }
    for (size_t i = 0; i < value->size(); ++i) {
      const std::string frame_param = field + "[" + std::to_string(i) + "]";
      const std::string url = PartUrl((*value)[i], frame_param);
      cp.media.frame_paths.push_back(
          ResolveFramePath(url, options.media, frame_param, out.temp_files));
    }
    return cp;
  }
  ResolveMediaUrl(PartUrl(*value, field), options.media, field, cp.media);
  return cp;
}

std::vector<ContentPart> ParseContent(const json& content, const std::string& param,
                                      const SchemaOptions& options, ChatRequest& out) {
  std::vector<ContentPart> parts;
  if (content.is_null()) return parts;
  if (content.is_string()) {
    parts.push_back({ContentPart::Type::kText, content.get<std::string>(), {}});
    return parts;
  }
  if (!content.is_array()) WrongType(param, "a string or a list of parts", content);
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string part_param = param + "[" + std::to_string(i) + "]";
    if (!part.is_object()) WrongType(part_param, "an object", part);
    auto type_it = part.find("type");
    if (type_it == part.end() || !type_it->is_string()) {
      throw BadRequest(part_param + ".type must be a string", part_param + ".type", "invalid_type");
    }
    const std::string type = type_it->get<std::string>();
    if (type == "text") {
      auto text = part.find("text");
      if (text == part.end() || !text->is_string()) {
        throw BadRequest(part_param + ".text must be a string", part_param + ".text",
                         "invalid_type");
      }
      parts.push_back({ContentPart::Type::kText, text->get<std::string>(), {}});
    } else if (type == "image_url" || type == "image" || type == "video_url" || type == "video") {
      parts.push_back(ParseMediaPart(part, type, part_param, options, out));
    } else {
      throw BadRequest("unsupported content part type '" + type + "' in " + part_param +
                           " (expected text, image_url, image, video_url or video)",
                       part_param + ".type", "unsupported_content_type");
    }
  }
  return parts;
}

void ParseMessages(const json& body, const SchemaOptions& options, ChatRequest& out) {
  auto messages = body.find("messages");
  if (messages == body.end()) throw BadRequest("messages is required", "messages", "missing");
  if (!messages->is_array()) WrongType("messages", "a list", *messages);
  if (messages->empty()) throw BadRequest("messages must not be empty", "messages");
  int media_count = 0;
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    const std::string param = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) WrongType(param, "an object", m);
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) {
      throw BadRequest(param + ".role must be a string", param + ".role", "invalid_type");
    }
    Message message;
    message.role = role->get<std::string>();
    if (message.role == "developer") message.role = "system";
    if (message.role != "system" && message.role != "user" && message.role != "assistant") {
      throw BadRequest(
          param + ".role must be system, user or assistant, got '" + message.role + "'",
          param + ".role");
    }
    auto content = m.find("content");
    if (content == m.end()) throw BadRequest(param + ".content is required", param + ".content");
    message.content = ParseContent(*content, param + ".content", options, out);
    for (const auto& part : message.content) {
      if (part.type != ContentPart::Type::kMedia) continue;
      if (++media_count > options.max_media_items) {
        throw BadRequest("too many images and videos: at most " +
                             std::to_string(options.max_media_items) + " per request",
                         param + ".content", "too_many_media");
      }
    }
    out.request.messages.push_back(std::move(message));
  }
}

void ParseStop(const json& body, SamplingParams& sampling) {
  auto stop = body.find("stop");
  if (stop == body.end() || stop->is_null()) return;
  if (stop->is_string()) {
    sampling.stop.push_back(stop->get<std::string>());
    return;
  }
  if (!stop->is_array()) WrongType("stop", "a string or a list of strings", *stop);
  if (stop->size() > 16) throw BadRequest("stop accepts at most 16 strings", "stop");
  for (const auto& s : *stop) {
    if (!s.is_string()) WrongType("stop[]", "a string", s);
    sampling.stop.push_back(s.get<std::string>());
  }
}

void ParseSampling(const json& body, const SchemaOptions& options, SamplingParams& s) {
  int64_t max_tokens = 0;
  if (ReadNumber(body, "max_completion_tokens", "max_completion_tokens", max_tokens) ||
      ReadNumber(body, "max_tokens", "max_tokens", max_tokens)) {
    CheckRange<int64_t>(max_tokens, 1, options.context_length, "max_tokens");
    s.max_new_tokens = max_tokens;
  }
  if (ReadNumber(body, "temperature", "temperature", s.temperature)) {
    CheckRange<float>(*s.temperature, 0.0f, 2.0f, "temperature");
  }
  if (ReadNumber(body, "top_p", "top_p", s.top_p)) CheckRange<float>(*s.top_p, 0.0f, 1.0f, "top_p");
  if (ReadNumber(body, "top_k", "top_k", s.top_k)) CheckRange<int>(*s.top_k, -1, 1 << 20, "top_k");
  if (ReadNumber(body, "min_p", "min_p", s.min_p)) CheckRange<float>(*s.min_p, 0.0f, 1.0f, "min_p");
  if (ReadNumber(body, "repetition_penalty", "repetition_penalty", s.repetition_penalty)) {
    CheckRange<float>(*s.repetition_penalty, 0.01f, 10.0f, "repetition_penalty");
  }
  if (ReadNumber(body, "presence_penalty", "presence_penalty", s.presence_penalty)) {
    CheckRange<float>(s.presence_penalty, -2.0f, 2.0f, "presence_penalty");
  }
  if (ReadNumber(body, "frequency_penalty", "frequency_penalty", s.frequency_penalty)) {
    CheckRange<float>(s.frequency_penalty, -2.0f, 2.0f, "frequency_penalty");
  }
  int64_t seed = 0;
  if (ReadNumber(body, "seed", "seed", seed)) s.seed = static_cast<uint64_t>(seed);
  ParseStop(body, s);
}

void ParseTopLevel(const json& body, const SchemaOptions& options, ChatRequest& out) {
  if (auto model = body.find("model"); model != body.end() && !model->is_null()) {
    if (!model->is_string()) WrongType("model", "a string", *model);
    out.model = model->get<std::string>();
    if (!out.model.empty() && out.model != options.model_name) {
      throw ApiError(404,
                     "The model '" + out.model + "' does not exist; this server serves '" +
                         options.model_name + "'",
                     "model", "model_not_found");
    }
  }
  int64_t n = 1;
  if (ReadNumber(body, "n", "n", n) && n != 1) {
    throw BadRequest("only n=1 is supported, got n=" + std::to_string(n), "n", "unsupported_value");
  }
  ReadBool(body, "stream", out.stream);
  if (auto so = body.find("stream_options"); so != body.end() && !so->is_null()) {
    if (!so->is_object()) WrongType("stream_options", "an object", *so);
    ReadBool(*so, "include_usage", out.include_usage);
  }
  bool logprobs = false;
  if (ReadBool(body, "logprobs", logprobs) && logprobs) {
    throw BadRequest("logprobs are not supported", "logprobs", "unsupported_value");
  }
  if (auto tools = body.find("tools"); tools != body.end() && !tools->is_null()) {
    throw BadRequest("tools are not supported", "tools", "unsupported_value");
  }
}

}  // namespace

ChatRequest ParseChatRequest(std::string_view body_text, const SchemaOptions& options) {
  json body = json::parse(body_text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    throw BadRequest("request body is not valid JSON", "", "invalid_json");
  }
  if (!body.is_object()) WrongType("body", "a JSON object", body);
  ChatRequest out;
  ParseTopLevel(body, options, out);
  ParseSampling(body, options, out.request.sampling);
  ParseMessages(body, options, out);
  return out;
}

}  // namespace qwenvl::server
