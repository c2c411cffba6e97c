// `qwenvl template`: renders a conversation with the model folder's chat template (model-spec
// §8.3), printing exactly the prompt text (no trailing newline added), for checking against
// transformers' apply_chat_template.
//   qwenvl template -m DIR --messages conv.json [--add-generation-prompt] [--add-vision-id]
// conv.json: a JSON array of messages, or an object with a "messages" array.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "cli/model_argument.h"
#include "text/chat_template.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace qwenvl::cli {
namespace {

struct TemplateOptions {
  std::string model_dir;
  std::string messages_file;
  std::string context_file;
  bool add_generation_prompt = false;
  bool add_vision_id = false;
};

// Parsed keeping key order, so `tojson` in a template prints keys as the file has them.
nlohmann::ordered_json ReadJsonFile(const std::string& path) {
  try {
    return nlohmann::ordered_json::parse(ReadFileToString(path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kInvalidArgument, path + ": not valid JSON: " + e.what());
  }
}

void RunTemplate(const TemplateOptions& opts) {
  const text::ChatTemplate chat_template = text::ChatTemplate::FromModelDir(opts.model_dir);
  nlohmann::ordered_json messages = ReadJsonFile(opts.messages_file);
  if (messages.is_object() && messages.contains("messages")) messages = messages["messages"];
  if (!messages.is_array()) {
    throw Error(
        ErrorCode::kInvalidArgument,
        opts.messages_file + ": a JSON array of messages expected, got " + messages.type_name());
  }
  text::ChatTemplateOptions render_opts;
  render_opts.add_generation_prompt = opts.add_generation_prompt;
  render_opts.add_vision_id = opts.add_vision_id;
  if (!opts.context_file.empty()) {
    nlohmann::ordered_json context = ReadJsonFile(opts.context_file);
    if (!context.is_object()) {
      throw Error(ErrorCode::kInvalidArgument, opts.context_file + ": a JSON object expected");
    }
    render_opts.extra_context = nlohmann::json::parse(context.dump());
  }
  const std::string text = chat_template.Render(messages, render_opts);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

void AddTemplateCommand(CLI::App& app) {
  auto opts = std::make_shared<TemplateOptions>();
  CLI::App* cmd =
      app.add_subcommand("template", "Render a conversation with the model's chat template");
  cmd->add_option("-m,--model", opts->model_dir,
                  "Model directory (chat_template.json or tokenizer_config.json) or hub name "
                  "ORG/NAME[@REV]")
      ->required()
      ->transform(ModelArgument());
  cmd->add_option("--messages", opts->messages_file, "JSON file: an array of chat messages")
      ->required();
  cmd->add_option("--context", opts->context_file,
                  "JSON file: an object of extra template variables (e.g. tools)");
  cmd->add_flag("--add-generation-prompt", opts->add_generation_prompt,
                "Append the assistant turn header");
  cmd->add_flag("--add-vision-id", opts->add_vision_id, "Number images/videos (Picture 1: ...)");
  cmd->callback([opts] { RunTemplate(*opts); });
}

}  // namespace qwenvl::cli
