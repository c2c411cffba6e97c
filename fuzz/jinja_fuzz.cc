// Fuzzes the chat-template interpreter: the input is template source, rendered over a fixed
// Qwen-style conversation. Any outcome but success or qwenvl::Error (a crash, a sanitizer report,
// another exception, a hang) is a bug. Small render limits keep each input fast.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "text/chat_template.h"
#include "util/error.h"

namespace {

const nlohmann::json& Messages() {
  static const nlohmann::json messages = nlohmann::json::parse(R"([
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"},
                                 {"type": "video", "video": "v.mp4"}]},
    {"role": "assistant", "content": "A cat \u00e9\u2713.", "tool_calls": [
      {"function": {"name": "f", "arguments": {"x": 1.5, "y": [true, null]}}}]},
    {"role": "user", "content": "  thanks  "}])");
  return messages;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string source(reinterpret_cast<const char*>(data), size);
  qwenvl::text::jinja::RenderLimits limits;
  limits.max_output_bytes = 1 << 20;
  limits.max_items = 1 << 14;
  limits.max_steps = 200000;
  qwenvl::text::ChatTemplateOptions opts;
  opts.add_generation_prompt = size % 2 == 0;
  opts.add_vision_id = size % 3 == 0;
  opts.extra_context = {{"tools", nlohmann::json::array({{{"name", "f"}, {"n", 3}}})}};
  try {
    qwenvl::text::ChatTemplate chat_template = qwenvl::text::ChatTemplate::FromSource(source);
    chat_template.set_limits(limits);
    chat_template.Render(Messages(), opts);
  } catch (const qwenvl::Error&) {
    // Rejecting a template is a valid outcome.
  }
  return 0;
}
