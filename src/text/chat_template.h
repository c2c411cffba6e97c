// The chat template of a Qwen2.5-VL model folder (model-spec §8.3), rendered as transformers'
// apply_chat_template does: same Jinja settings, globals, tojson and special-token variables.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "text/jinja_template.h"

namespace qwenvl::text {

struct ChatTemplateOptions {
  bool add_generation_prompt = false;
  bool add_vision_id = false;
  // More template variables (e.g. tools, documents); they override the defaults above.
  nlohmann::json extra_context = nlohmann::json::object();
};

class ChatTemplate {
 public:
  // Reads chat_template.jinja (raw source, what newer transformers saves) or chat_template.json
  // ({"chat_template": "..."}) in `dir`, else the chat_template of tokenizer_config.json (a
  // string, or a list of {name, template}: "default" is used). Special
  // tokens (bos_token, eos_token, ...) come from tokenizer_config.json when present.
  // Throws qwenvl::Error when no template is found or it does not parse.
  static ChatTemplate FromModelDir(const std::string& dir);
  // A template given as Jinja source, without special-token variables.
  static ChatTemplate FromSource(std::string source);

  // `messages`: [{"role": ..., "content": "text" | [{"type": "image"}, {"type": "text",
  // "text": ...}, ...]}, ...]. Throws qwenvl::Error on template errors and raise_exception().
  std::string Render(const nlohmann::json& messages, const ChatTemplateOptions& opts) const;
  // Same, keeping the caller's key order in dicts (matters to `tojson` of messages or tools).
  std::string Render(const nlohmann::ordered_json& messages, const ChatTemplateOptions& opts) const;

  const std::string& source() const { return source_; }
  // Limits on one render (output size, steps); the defaults suit any real conversation.
  void set_limits(const jinja::RenderLimits& limits) { limits_ = limits; }

 private:
  std::string RenderValue(const jinja::Value& messages, const ChatTemplateOptions& opts) const;

  std::string source_;
  std::string origin_;  // the file the template came from, for error messages
  jinja::Template template_;
  jinja::RenderLimits limits_;
  nlohmann::ordered_json special_tokens_ = nlohmann::ordered_json::object();
};

}  // namespace qwenvl::text
