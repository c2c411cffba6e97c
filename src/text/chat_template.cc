// Loads a model folder's chat template and renders conversations with it (model-spec §8.3).
#include "text/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace qwenvl::text {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, path.string() + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::ordered_json ReadJson(const fs::path& path) {
  try {
    return nlohmann::ordered_json::parse(ReadFile(path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kCorruptFile, path.string() + ": invalid JSON: " + e.what());
  }
}

// tokenizer_config.json's chat_template: a string, or [{"name": ..., "template": ...}].
std::string TemplateFromConfig(const nlohmann::ordered_json& value, const fs::path& path) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array()) {
    for (const auto& entry : value) {
      // Each field checked for a string first: value("name", "") throws on a name of another type.
      if (entry.is_object() && entry.contains("name") && entry["name"].is_string() &&
          entry["name"] == "default" && entry.contains("template") &&
          entry["template"].is_string()) {
        return entry["template"].get<std::string>();
      }
    }
    throw Error(ErrorCode::kNotFound,
                path.string() + ": chat_template list has no entry named \"default\"");
  }
  throw Error(
      ErrorCode::kCorruptFile,
      path.string() + ": chat_template must be a string or a list, got " + value.type_name());
}

// A special token as tokenizer_config.json stores it: "<s>" or {"content": "<s>", ...}.
bool TokenText(const nlohmann::ordered_json& v, std::string* text) {
  if (v.is_string()) {
    *text = v.get<std::string>();
    return true;
  }
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    *text = v["content"].get<std::string>();
    return true;
  }
  return false;
}

// transformers passes tokenizer.special_tokens_map to the template: only tokens that are set.
nlohmann::ordered_json SpecialTokens(const nlohmann::ordered_json& config) {
  nlohmann::ordered_json tokens = nlohmann::ordered_json::object();
  static const char* const kNames[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                       "pad_token", "cls_token", "mask_token"};
  std::string text;
  for (const char* name : kNames) {
    if (config.contains(name) && TokenText(config[name], &text)) tokens[name] = text;
  }
  if (config.contains("additional_special_tokens") &&
      config["additional_special_tokens"].is_array()) {
    nlohmann::ordered_json extra = nlohmann::ordered_json::array();
    for (const auto& t : config["additional_special_tokens"]) {
      if (TokenText(t, &text)) extra.push_back(text);
    }
    if (!extra.empty()) tokens["additional_special_tokens"] = extra;
  }
  return tokens;
}

}  // namespace

ChatTemplate ChatTemplate::FromSource(std::string source) {
  ChatTemplate t;
  t.template_ = jinja::Template::Parse(source);
  t.source_ = std::move(source);
  t.origin_ = "chat template";
  return t;
}

ChatTemplate ChatTemplate::FromModelDir(const std::string& dir) {
  fs::path root(dir);
  fs::path config_path = root / "tokenizer_config.json";
  nlohmann::ordered_json config = nlohmann::ordered_json::object();
  if (fs::exists(config_path)) config = ReadJson(config_path);
  std::string source;
  fs::path origin;
  if (fs::exists(root / "chat_template.jinja")) {
    origin = root / "chat_template.jinja";
    source = ReadFile(origin);
  } else if (fs::exists(root / "chat_template.json")) {
    origin = root / "chat_template.json";
    nlohmann::ordered_json j = ReadJson(origin);
    if (!j.is_object() || !j.contains("chat_template") || !j["chat_template"].is_string()) {
      throw Error(ErrorCode::kCorruptFile,
                  origin.string() + ": expected {\"chat_template\": \"...\"}");
    }
    source = j["chat_template"].get<std::string>();
  } else if (config.is_object() && config.contains("chat_template")) {
    origin = config_path;
    source = TemplateFromConfig(config["chat_template"], origin);
  } else {
    throw Error(ErrorCode::kNotFound,
                dir +
                    ": no chat template (chat_template.jinja, chat_template.json "
                    "or chat_template in tokenizer_config.json)");
  }
  ChatTemplate t;
  try {
    t = FromSource(std::move(source));
  } catch (const Error& e) {
    throw Error(e.code(), origin.string() + ": " + e.what());
  }
  t.origin_ = origin.string();
  if (config.is_object()) t.special_tokens_ = SpecialTokens(config);
  return t;
}

std::string ChatTemplate::Render(const nlohmann::json& messages,
                                 const ChatTemplateOptions& opts) const {
  return RenderValue(jinja::FromJson(messages), opts);
}

std::string ChatTemplate::Render(const nlohmann::ordered_json& messages,
                                 const ChatTemplateOptions& opts) const {
  return RenderValue(jinja::FromJson(messages), opts);
}

// The variables apply_chat_template renders with: special tokens, messages, tools and documents
// (None unless given), add_generation_prompt, then the caller's extra keyword arguments.
std::string ChatTemplate::RenderValue(const jinja::Value& messages,
                                      const ChatTemplateOptions& opts) const {
  if (!messages.IsList()) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("chat messages must be a JSON array, got ") + messages.TypeName());
  }
  jinja::Value context = jinja::FromJson(special_tokens_);
  jinja::Dict& vars = *context.AsDict();
  vars.Set("messages", messages);
  vars.Set("tools", jinja::Value(nullptr));
  vars.Set("documents", jinja::Value(nullptr));
  vars.Set("add_generation_prompt", jinja::Value(opts.add_generation_prompt));
  vars.Set("add_vision_id", jinja::Value(opts.add_vision_id));
  if (!opts.extra_context.is_object()) {
    throw Error(ErrorCode::kInvalidArgument, "chat template extra_context must be a JSON object");
  }
  for (auto it = opts.extra_context.begin(); it != opts.extra_context.end(); ++it) {
    if (it.key() != "messages") vars.Set(it.key(), jinja::FromJson(it.value()));
  }
  try {
    return template_.Render(context, limits_);
  } catch (const Error& e) {
    throw Error(e.code(), origin_ + ": " + e.what());
  }
}

}  // namespace qwenvl::text
