#include "server/openai_schema.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "server/api_error.h"
#include "server/generation_schema.h"
#include "server/json_fields.h"
#include "server/structured_output.h"
#include "server/tool_calls.h"

namespace qwenvl::server {
namespace {

// Ordered: function schemas and call arguments reach the prompt in the order the client wrote them.
using json = nlohmann::ordered_json;

// A video has at least 2 frames (the temporal patch) and at most qwen-vl-utils' FPS_MAX_FRAMES.
constexpr int64_t kMinFrames = 2;
constexpr int64_t kMaxFrames = 768;

// qwen-vl-utils / LMDeploy preprocessing keys, read from `object` (the part or its url object).
void ReadMediaOptions(const json& object, const std::string& param, const SchemaOptions& options,
                      Media& media) {
  const int64_t max_px = options.max_image_pixels;
  Assign(ReadInteger<int64_t>(object, "min_pixels", param + ".min_pixels", 1, max_px),
         media.min_pixels);
  Assign(ReadInteger<int64_t>(object, "max_pixels", param + ".max_pixels", 1, max_px),
         media.max_pixels);
  if (media.min_pixels && media.max_pixels && *media.min_pixels > *media.max_pixels) {
    throw BadRequest(param + ".min_pixels is larger than max_pixels", param + ".min_pixels");
  }
  Assign(ReadInteger<int64_t>(object, "resized_height", param + ".resized_height", 1, 32768),
         media.resized_height);
  Assign(ReadInteger<int64_t>(object, "resized_width", param + ".resized_width", 1, 32768),
         media.resized_width);
  if (media.resized_height && media.resized_width &&
      *media.resized_height * *media.resized_width > max_px) {
    throw BadRequest(param + ": resized_height x resized_width exceeds the image pixel budget of " +
                         std::to_string(max_px),
                     param + ".resized_height", "image_too_large");
  }
  Assign(ReadReal(object, "fps", param + ".fps", 1e-3, 240.0), media.fps);
  Assign(ReadInteger<int64_t>(object, "nframes", param + ".nframes", kMinFrames, kMaxFrames),
         media.nframes);
  Assign(ReadInteger<int64_t>(object, "min_frames", param + ".min_frames", kMinFrames, kMaxFrames),
         media.min_frames);
  Assign(ReadInteger<int64_t>(object, "max_frames", param + ".max_frames", kMinFrames, kMaxFrames),
         media.max_frames);
  if (media.min_frames && media.max_frames && *media.min_frames > *media.max_frames) {
    throw BadRequest(param + ".min_frames is larger than max_frames", param + ".min_frames");
  }
  // Past every frame at the image budget a larger total changes nothing.
  const int64_t max_total = max_px > std::numeric_limits<int64_t>::max() / kMaxFrames
                                ? std::numeric_limits<int64_t>::max()
                                : max_px * kMaxFrames;
  Assign(ReadInteger<int64_t>(object, "total_pixels", param + ".total_pixels", 1, max_total),
         media.total_pixels);
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
  // Where each budget came from (the url object's wins, as it is read last).
  std::map<std::string, std::string>& fields = out.media_fields.emplace_back();
  for (const char* key : {"min_pixels", "max_pixels", "resized_height", "resized_width", "fps",
                          "nframes", "min_frames", "max_frames", "total_pixels"}) {
    if (value->is_object() && value->contains(key)) {
      fields[key] = field + "." + key;
    } else if (part.contains(key)) {
      fields[key] = param + "." + key;
    }
  }
  if (type == "video" && value->is_array()) {
    if (std::cmp_less(value->size(), kMinFrames) || std::cmp_greater(value->size(), kMaxFrames)) {
      throw BadRequest(field + " must list " + std::to_string(kMinFrames) + " to " +
                           std::to_string(kMaxFrames) + " frames, got " +
                           std::to_string(value->size()),
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
    if (message.role != "system" && message.role != "user" && message.role != "assistant" &&
        message.role != "tool") {
      throw BadRequest(
          param + ".role must be system, user, assistant or tool, got '" + message.role + "'",
          param + ".role");
    }
    auto content = m.find("content");
    const auto tool_calls = m.find("tool_calls");
    const bool has_calls =
        message.role == "assistant" && tool_calls != m.end() && !tool_calls->is_null();
    // An assistant turn that only calls functions may have no content (OpenAI sends null).
    if (has_calls && (content == m.end() || content->is_null())) {
      message.content.push_back({ContentPart::Type::kText, "", {}});
    } else {
      if (content == m.end()) throw BadRequest(param + ".content is required", param + ".content");
      message.content = ParseContent(*content, param + ".content", options, out);
    }
    if (message.role == "tool") {
      for (const auto& part : message.content)
        if (part.type != ContentPart::Type::kText)
          throw BadRequest(param + ".content of a tool message must be text", param + ".content");
    }
    if (has_calls) {
      const std::string calls = ToolCallsText(*tool_calls, param + ".tool_calls");
      auto& parts = message.content;
      if (parts.empty() || parts.back().type != ContentPart::Type::kText)
        parts.push_back({ContentPart::Type::kText, "", {}});
      parts.back().text += (parts.back().text.empty() ? "" : "\n") + calls;
    }
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

void ParseTopLevel(const json& body, const SchemaOptions& options, ChatRequest& out) {
  GenerationFields fields;
  ParseGenerationFields(body, options, fields, out.request.sampling);
  out.model = fields.model;
  out.n = fields.n;
  out.stream = fields.stream;
  out.include_usage = fields.include_usage;
  // OpenAI's chat logprobs: a switch, and how many alternatives each token lists.
  bool logprobs = false;
  ReadBool(body, "logprobs", "logprobs", logprobs);
  const auto top_logprobs = ReadInteger<int>(body, "top_logprobs", "top_logprobs", 0, 20);
  if (top_logprobs && !logprobs) {
    throw BadRequest("top_logprobs needs logprobs: true", "top_logprobs");
  }
  if (logprobs) out.request.sampling.logprobs = top_logprobs.value_or(0);
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
  ParseMessages(body, options, out);
  out.request.constraint = ParseOutputConstraint(body);
  const std::optional<ToolsRequest> tools = ParseTools(body);
  ApplyToolFormat(tools, out.request);
  if (tools && tools->choice != ToolsRequest::Choice::kNone) {
    out.tool_calls = true;
    OutputConstraint calls = ToolCallConstraint(*tools);
    if (calls.kind != OutputConstraint::Kind::kNone) {
      if (out.request.constraint.kind != OutputConstraint::Kind::kNone)
        throw BadRequest(
            "tool_choice 'required' or a named function cannot be combined with response_format",
            "tool_choice", "conflicting_fields");
      out.request.constraint = std::move(calls);
    }
  }
  return out;
}

}  // namespace qwenvl::server
