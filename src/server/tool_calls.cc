#include "server/tool_calls.h"

#include <random>

#include "grammar/gbnf.h"
#include "grammar/json_schema.h"
#include "server/api_error.h"
#include "server/structured_output.h"

namespace qwenvl::server {

namespace {

using json = nlohmann::ordered_json;

constexpr std::string_view kOpen = "<tool_call>";
constexpr std::string_view kClose = "</tool_call>";
constexpr size_t kMaxTools = 128;

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  return true;
}

std::string NewCallId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += kChars[rng() % 62];
  return id;
}

// The call inside one <tool_call> block, if it is one.
std::optional<ToolCall> ParseCall(std::string_view inner) {
  const json call = json::parse(inner, nullptr, /*allow_exceptions=*/false);
  if (!call.is_object()) return std::nullopt;
  const auto name = call.find("name");
  const auto args = call.find("arguments");
  if (name == call.end() || !name->is_string() || args == call.end()) return std::nullopt;
  // Arguments are an object; some fine-tunes write them as a JSON string holding the object.
  std::string arguments;
  if (args->is_object()) {
    arguments = args->dump();
  } else if (args->is_string() &&
             json::parse(args->get<std::string>(), nullptr, false).is_object()) {
    arguments = args->get<std::string>();
  } else {
    return std::nullopt;
  }
  return ToolCall{NewCallId(), name->get<std::string>(), std::move(arguments)};
}

// Message::Text lives in the engine library, which the request parser does not link.
Message TextMessage(std::string role, std::string text) {
  Message m;
  m.role = std::move(role);
  m.content.push_back({ContentPart::Type::kText, std::move(text), {}});
  return m;
}

// JSON as the chat template's tojson writes it (Python's json.dumps: ", " and ": ", keys in the
// order given, non-ASCII as is), the form the model saw in training.
void AppendPythonJson(const json& v, int depth, std::string* out) {
  if (depth > 64) throw BadRequest("tools: JSON nested deeper than 64 levels", "tools");
  if (v.is_object()) {
    out->push_back('{');
    bool first = true;
    for (const auto& [key, value] : v.items()) {
      if (!first) out->append(", ");
      first = false;
      out->append(json(key).dump(-1, ' ', false, json::error_handler_t::replace));
      out->append(": ");
      AppendPythonJson(value, depth + 1, out);
    }
    out->push_back('}');
  } else if (v.is_array()) {
    out->push_back('[');
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out->append(", ");
      AppendPythonJson(v[i], depth + 1, out);
    }
    out->push_back(']');
  } else {
    out->append(v.dump(-1, ' ', false, json::error_handler_t::replace));
  }
}

std::string PythonJson(const json& v) {
  std::string out;
  AppendPythonJson(v, 0, &out);
  return out;
}

// True when object o's "type" is the string `want`. json::value("type", "") would throw a
// type_error for a "type" that is not a string (an object, a number): a client's malformed field,
// to be refused as a bad request like any other.
bool TypeIs(const json& o, std::string_view want) {
  const auto type = o.find("type");
  return type != o.end() && type->is_string() && type->get_ref<const std::string&>() == want;
}

}  // namespace

std::optional<ToolsRequest> ParseTools(const json& body) {
  ToolsRequest out;
  const auto tools = body.find("tools");
  const bool has_tools = tools != body.end() && !tools->is_null();
  if (has_tools) {
    if (!tools->is_array()) throw BadRequest("tools must be a list", "tools", "invalid_type");
    if (tools->size() > kMaxTools)
      throw BadRequest("at most " + std::to_string(kMaxTools) + " tools", "tools");
    for (size_t i = 0; i < tools->size(); ++i) {
      const json& t = (*tools)[i];
      const std::string param = "tools[" + std::to_string(i) + "]";
      if (!t.is_object() || !TypeIs(t, "function"))
        throw BadRequest(param + " must be {\"type\": \"function\", \"function\": {...}}", param);
      const auto f = t.find("function");
      if (f == t.end() || !f->is_object())
        throw BadRequest(param + ".function must be an object", param + ".function",
                         "invalid_type");
      const auto name = f->find("name");
      if (name == f->end() || !name->is_string() || !ValidName(name->get<std::string>()))
        throw BadRequest(param + ".function.name must be 1 to 64 letters, digits, _ or -",
                         param + ".function.name");
      for (const json& other : out.functions)
        if (other["name"] == *name)
          throw BadRequest("two tools are named '" + name->get<std::string>() + "'",
                           param + ".function.name");
      if (const auto params = f->find("parameters"); params != f->end() && !params->is_null()) {
        if (!params->is_object())
          throw BadRequest(param + ".function.parameters must be a JSON Schema object",
                           param + ".function.parameters", "invalid_type");
      }
      if (const auto d = f->find("description"); d != f->end() && !d->is_null() && !d->is_string())
        throw BadRequest(param + ".function.description must be a string",
                         param + ".function.description", "invalid_type");
      out.functions.push_back(*f);
    }
  }
  if (const auto p = body.find("parallel_tool_calls"); p != body.end() && !p->is_null()) {
    if (!p->is_boolean())
      throw BadRequest("parallel_tool_calls must be a boolean", "parallel_tool_calls",
                       "invalid_type");
    out.parallel = p->get<bool>();
  }
  const auto choice = body.find("tool_choice");
  if (choice != body.end() && !choice->is_null()) {
    if (choice->is_string()) {
      const std::string c = choice->get<std::string>();
      if (c == "auto") {
        out.choice = ToolsRequest::Choice::kAuto;
      } else if (c == "none") {
        out.choice = ToolsRequest::Choice::kNone;
      } else if (c == "required") {
        out.choice = ToolsRequest::Choice::kRequired;
      } else {
        throw BadRequest("tool_choice must be auto, none, required or a function, got '" + c + "'",
                         "tool_choice");
      }
    } else if (choice->is_object()) {
      const auto f = choice->find("function");
      if (!TypeIs(*choice, "function") || f == choice->end() || !f->is_object() ||
          !f->contains("name") || !(*f)["name"].is_string())
        throw BadRequest(
            "tool_choice must be {\"type\": \"function\", \"function\": {\"name\": ...}}",
            "tool_choice");
      out.choice = ToolsRequest::Choice::kNamed;
      out.named = (*f)["name"].get<std::string>();
      bool found = false;
      for (const json& fn : out.functions) found |= fn["name"] == out.named;
      if (!found)
        throw BadRequest("tool_choice names '" + out.named + "', which is not in tools",
                         "tool_choice");
    } else {
      throw BadRequest("tool_choice must be a string or an object", "tool_choice", "invalid_type");
    }
  }
  if (!has_tools) {
    if (out.choice == ToolsRequest::Choice::kRequired)
      throw BadRequest("tool_choice is 'required' but no tools are given", "tool_choice");
    return std::nullopt;
  }
  if (out.choice != ToolsRequest::Choice::kNone) {
    // The constraint is built now, so a schema that cannot be enforced is a 400 on its tool.
    for (size_t i = 0; i < out.functions.size(); ++i) {
      const json& f = out.functions[i];
      if (f.contains("parameters") && !f["parameters"].is_null())
        CheckConstraintCompiles({OutputConstraint::Kind::kJsonSchema, f["parameters"].dump()},
                                "tools[" + std::to_string(i) + "].function.parameters");
    }
  }
  return out;
}

std::string ToolCallsText(const json& tool_calls, const std::string& param) {
  if (!tool_calls.is_array()) throw BadRequest(param + " must be a list", param, "invalid_type");
  std::string text;
  for (size_t i = 0; i < tool_calls.size(); ++i) {
    const json& c = tool_calls[i];
    const std::string p = param + "[" + std::to_string(i) + "]";
    const auto f = c.is_object() ? c.find("function") : c.end();
    if (!c.is_object() || f == c.end() || !f->is_object() || !f->contains("name") ||
        !(*f)["name"].is_string())
      throw BadRequest(
          p + " must be {\"type\": \"function\", \"function\": {\"name\", \"arguments\"}}", p);
    json args = json::object();
    if (const auto a = f->find("arguments"); a != f->end() && !a->is_null()) {
      // OpenAI sends arguments as a JSON string; an object is taken as is.
      args = a->is_string() ? json::parse(a->get<std::string>(), nullptr, false) : *a;
      if (!args.is_object())
        throw BadRequest(p + ".function.arguments must be a JSON object (or its text)",
                         p + ".function.arguments");
    }
    if (!text.empty()) text += "\n";
    text += std::string(kOpen) + "\n{\"name\": " + PythonJson((*f)["name"]) +
            ", \"arguments\": " + PythonJson(args) + "}\n" + std::string(kClose);
  }
  return text;
}

void ApplyToolFormat(const std::optional<ToolsRequest>& tools, Request& request) {
  // Runs of tool results become one user turn.
  std::vector<Message> merged;
  for (Message& m : request.messages) {
    if (m.role != "tool") {
      merged.push_back(std::move(m));
      continue;
    }
    std::string body;
    for (const ContentPart& p : m.content)
      if (p.type == ContentPart::Type::kText) body += p.text;
    const std::string block = "<tool_response>\n" + body + "\n</tool_response>";
    const bool continues = !merged.empty() && merged.back().role == "user" &&
                           !merged.back().content.empty() &&
                           merged.back().content.back().text.ends_with("</tool_response>");
    if (continues) {
      merged.back().content.back().text += "\n" + block;
    } else {
      merged.push_back(TextMessage("user", block));
    }
  }
  request.messages = std::move(merged);
  if (!tools || tools->choice == ToolsRequest::Choice::kNone) return;
  std::string prompt =
      "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
      "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
  for (const json& f : tools->functions)
    prompt += "\n{\"type\": \"function\", \"function\": " + PythonJson(f) + "}";
  prompt +=
      "\n</tools>\n\nFor each function call, return a json object with function name and arguments "
      "within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, "
      "\"arguments\": <args-json-object>}\n</tool_call>";
  if (!request.messages.empty() && request.messages.front().role == "system") {
    auto& content = request.messages.front().content;
    if (!content.empty() && content.back().type == ContentPart::Type::kText) {
      content.back().text += prompt;
    } else {
      content.push_back({ContentPart::Type::kText, prompt.substr(2), {}});
    }
  } else {
    const std::string base = request.system_prompt.value_or("You are a helpful assistant.");
    request.messages.insert(request.messages.begin(), TextMessage("system", base + prompt));
  }
}

OutputConstraint ToolCallConstraint(const ToolsRequest& tools) {
  if (tools.choice != ToolsRequest::Choice::kRequired &&
      tools.choice != ToolsRequest::Choice::kNamed)
    return {};
  std::string rules, alts;
  for (size_t i = 0; i < tools.functions.size(); ++i) {
    const json& f = tools.functions[i];
    const std::string name = f["name"].get<std::string>();
    if (tools.choice == ToolsRequest::Choice::kNamed && name != tools.named) continue;
    const std::string args = "tool" + std::to_string(i) + "-args";
    const json params = f.contains("parameters") && !f["parameters"].is_null()
                            ? f["parameters"]
                            : json{{"type", "object"}};
    rules += grammar::JsonSchemaRules(params.dump(), args);
    alts += std::string(alts.empty() ? "" : " | ") + "tool" + std::to_string(i);
    rules += "tool" + std::to_string(i) + " ::= " +
             grammar::GbnfLiteral("{\"name\": " + json(name).dump() + ", \"arguments\": ") + " " +
             args + " \"}\"\n";
  }
  std::string root = "root ::= call";
  if (tools.parallel && tools.choice == ToolsRequest::Choice::kRequired)
    root += " (\"\\n\" call){0,15}";
  const std::string call = "call ::= " + grammar::GbnfLiteral(std::string(kOpen) + "\n") + " (" +
                           alts + ") " + grammar::GbnfLiteral("\n" + std::string(kClose)) + "\n";
  return {OutputConstraint::Kind::kGrammar, root + "\n" + call + rules + grammar::JsonBaseRules()};
}

ParsedAnswer ParseToolCalls(std::string_view answer) {
  ParsedAnswer out;
  size_t pos = 0;
  while (pos < answer.size()) {
    const size_t open = answer.find(kOpen, pos);
    if (open == std::string_view::npos) break;
    const size_t close = answer.find(kClose, open + kOpen.size());
    if (close == std::string_view::npos) break;
    auto call = ParseCall(answer.substr(open + kOpen.size(), close - open - kOpen.size()));
    if (!call) {
      out.content.append(answer.substr(pos, close + kClose.size() - pos));
    } else {
      out.content.append(answer.substr(pos, open - pos));
      out.calls.push_back(std::move(*call));
    }
    pos = close + kClose.size();
  }
  out.content.append(answer.substr(std::min(pos, answer.size())));
  // The newlines the format puts around calls are not content.
  const size_t first = out.content.find_first_not_of(" \n");
  if (!out.calls.empty()) out.content = first == std::string::npos ? "" : out.content.substr(first);
  while (!out.calls.empty() && !out.content.empty() &&
         (out.content.back() == '\n' || out.content.back() == ' '))
    out.content.pop_back();
  return out;
}

std::string ToolCallStream::Push(std::string_view text, std::vector<ToolCall>* calls) {
  pending_.append(text);
  std::string out;
  for (;;) {
    const size_t open = pending_.find(kOpen);
    if (open == std::string::npos) {
      // Keep back a tail that could be the start of "<tool_call>".
      size_t keep = 0;
      for (size_t k = std::min(pending_.size(), kOpen.size() - 1); k > 0; --k) {
        if (kOpen.substr(0, k) == std::string_view(pending_).substr(pending_.size() - k)) {
          keep = k;
          break;
        }
      }
      out += pending_.substr(0, pending_.size() - keep);
      pending_.erase(0, pending_.size() - keep);
      return out;
    }
    const size_t close = pending_.find(kClose, open + kOpen.size());
    if (close == std::string::npos) {
      out += pending_.substr(0, open);
      pending_.erase(0, open);
      return out;
    }
    auto call = ParseCall(
        std::string_view(pending_).substr(open + kOpen.size(), close - open - kOpen.size()));
    if (call) {
      out += pending_.substr(0, open);
      calls->push_back(std::move(*call));
    } else {
      out += pending_.substr(0, close + kClose.size());
    }
    pending_.erase(0, close + kClose.size());
  }
}

std::string ToolCallStream::Flush(std::vector<ToolCall>*) {
  std::string out = std::move(pending_);
  pending_.clear();
  return out;
}

}  // namespace qwenvl::server
