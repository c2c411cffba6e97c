// Function calling in Qwen2.5's format, on top of the OpenAI fields:
//   tools, tool_choice ("auto" | "none" | "required" | {"type": "function", "function": {"name"}}),
//   parallel_tool_calls; assistant messages with tool_calls; messages of role "tool".
// The model was trained to read the functions as JSON lines inside <tools></tools> in the system
// message and to answer calls as
//   <tool_call>
//   {"name": "get_weather", "arguments": {"city": "Paris"}}
//   </tool_call>
// with function results coming back in a user turn as <tool_response>...</tool_response>. Those
// texts are the model's prompt format; everything else here maps them to and from OpenAI's JSON.
// With tool_choice "required" or a named function the answer is constrained to calls whose
// arguments validate against the function's parameters schema.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qwenvl/engine.h"

namespace qwenvl::server {

struct ToolsRequest {
  enum class Choice { kAuto, kNone, kRequired, kNamed };
  std::vector<nlohmann::ordered_json> functions;  // each tool's "function" object
  Choice choice = Choice::kAuto;
  std::string named;  // kNamed: the function
  bool parallel = true;
};

// Reads tools / tool_choice / parallel_tool_calls. nullopt without tools (a tool_choice other
// than "none" or "auto" then is a 400). Throws ApiError (400) naming the field.
std::optional<ToolsRequest> ParseTools(const nlohmann::ordered_json& body);

// The text of an assistant message's tool_calls (OpenAI JSON), appended to its content as the
// model writes calls. Throws ApiError naming `param`.
std::string ToolCallsText(const nlohmann::ordered_json& tool_calls, const std::string& param);

// Puts the request in the model's format: the functions into the system message (one is added
// when the conversation has none), and each run of "tool" messages into one user message of
// <tool_response> blocks.
void ApplyToolFormat(const std::optional<ToolsRequest>& tools, Request& request);

// The constraint for tool_choice "required" or a named function; kNone otherwise.
OutputConstraint ToolCallConstraint(const ToolsRequest& tools);

struct ToolCall {
  std::string id;  // "call_" and 24 random characters
  std::string name;
  std::string arguments;  // JSON text of the arguments object
};

// An answer split into its text and its calls. A <tool_call> block that does not parse as
// {"name": string, "arguments": object} stays in the text.
struct ParsedAnswer {
  std::string content;
  std::vector<ToolCall> calls;
};
ParsedAnswer ParseToolCalls(std::string_view answer);

// The same split while the answer streams: text that cannot be the start of a call goes out at
// once; a call goes out whole when its </tool_call> arrives.
class ToolCallStream {
 public:
  // Returns the text safe to stream now; complete calls are appended to *calls.
  std::string Push(std::string_view text, std::vector<ToolCall>* calls);
  // End of answer: what is left (an unfinished call stays text).
  std::string Flush(std::vector<ToolCall>* calls);

 private:
  std::string pending_;
};

}  // namespace qwenvl::server
