#include "runtime/prompt.h"

#include "util/error.h"

namespace qwenvl::runtime {

nlohmann::ordered_json TemplateMessages(const Request& request) {
  if (request.messages.empty())
    throw Error(ErrorCode::kInvalidArgument, "the request has no messages");
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  if (request.system_prompt && request.messages.front().role != "system")
    out.push_back({{"role", "system"}, {"content", *request.system_prompt}});
  for (size_t i = 0; i < request.messages.size(); ++i) {
    const Message& m = request.messages[i];
    if (m.role != "system" && m.role != "user" && m.role != "assistant")
      throw Error(ErrorCode::kInvalidArgument, "message " + std::to_string(i) + ": role \"" +
                                                   m.role + "\" is not system, user or assistant");
    nlohmann::ordered_json msg = {{"role", m.role}};
    const bool text_only = m.content.size() == 1 && m.content[0].type == ContentPart::Type::kText;
    if (text_only) {
      msg["content"] = m.content[0].text;
    } else {
      nlohmann::ordered_json parts = nlohmann::ordered_json::array();
      for (const ContentPart& p : m.content) {
        if (p.type == ContentPart::Type::kText) {
          parts.push_back({{"type", "text"}, {"text", p.text}});
        } else {
          parts.push_back({{"type", p.media.kind == Media::Kind::kImage ? "image" : "video"}});
        }
      }
      msg["content"] = parts;
    }
    out.push_back(msg);
  }
  return out;
}

std::vector<const Media*> MediaInPromptOrder(const Request& request) {
  std::vector<const Media*> out;
  for (const Message& m : request.messages)
    for (const ContentPart& p : m.content)
      if (p.type == ContentPart::Type::kMedia) out.push_back(&p.media);
  return out;
}

std::vector<TokenId> ExpandVisionPads(std::span<const TokenId> ids,
                                      std::span<const PreparedMedia* const> media,
                                      const io::ModelConfig& config) {
  const int64_t merge = config.vision.spatial_merge_size;
  std::vector<const PreparedMedia*> images, videos;
  for (const PreparedMedia* m : media)
    (m->kind == Media::Kind::kImage ? images : videos).push_back(m);
  size_t next_image = 0, next_video = 0;
  std::vector<TokenId> out;
  out.reserve(ids.size());
  for (TokenId id : ids) {
    const bool is_image = id == config.image_token_id, is_video = id == config.video_token_id;
    if (!is_image && !is_video) {
      out.push_back(id);
      continue;
    }
    auto& list = is_image ? images : videos;
    size_t& next = is_image ? next_image : next_video;
    if (next == list.size())
      throw Error(ErrorCode::kInvalidArgument,
                  std::string("the prompt holds more ") + (is_image ? "image" : "video") +
                      " placeholders than the request has " + (is_image ? "images" : "videos") +
                      " (a placeholder token written in the text?)");
    out.insert(out.end(), list[next++]->tokens(merge), id);
  }
  if (next_image != images.size() || next_video != videos.size())
    throw Error(ErrorCode::kInvalidArgument,
                "the chat template placed fewer vision placeholders than the request has media");
  return out;
}

}  // namespace qwenvl::runtime
