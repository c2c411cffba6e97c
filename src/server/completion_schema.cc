#include "server/completion_schema.h"

#include <limits>
#include <nlohmann/json.hpp>

#include "server/api_error.h"
#include "server/json_fields.h"
#include "server/structured_output.h"

namespace qwenvl::server {
namespace {

using json = nlohmann::ordered_json;

// A prompt must leave the answer at least one token of the context.
void CheckLength(size_t tokens, const std::string& param, const SchemaOptions& options) {
  if (tokens == 0) throw BadRequest(param + " must not be empty", param);
  if (std::cmp_greater_equal(tokens, options.context_length)) {
    throw BadRequest(param + " has " + std::to_string(tokens) + " tokens; the context holds " +
                         std::to_string(options.context_length) +
                         " and the answer needs at least one",
                     param, "context_length_exceeded");
  }
}

std::vector<TokenId> ReadIds(const json& list, const std::string& param,
                             const SchemaOptions& options, const PromptTokenizer& tokenizer) {
  CheckLength(list.size(), param, options);
  std::vector<TokenId> ids;
  ids.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    ids.push_back(
        ReadTokenId(list[i], param + "[" + std::to_string(i) + "]", tokenizer.vocab_size));
  }
  return ids;
}

CompletionPrompt TextPrompt(const std::string& text, const std::string& param, bool echo,
                            const SchemaOptions& options, const PromptTokenizer& tokenizer) {
  if (text.empty()) throw BadRequest(param + " must not be empty", param);
  CompletionPrompt p;
  p.ids = tokenizer.tokenize(text);
  CheckLength(p.ids.size(), param, options);
  if (echo) p.text = text;
  return p;
}

CompletionPrompt IdPrompt(const json& list, const std::string& param, bool echo,
                          const SchemaOptions& options, const PromptTokenizer& tokenizer) {
  CompletionPrompt p;
  p.ids = ReadIds(list, param, options, tokenizer);
  if (echo) p.text = tokenizer.detokenize(p.ids);
  return p;
}

// OpenAI's four forms: "text", [id, ...], ["text", ...], [[id, ...], ...]. A list of prompts holds
// one kind only.
std::vector<CompletionPrompt> ParsePrompts(const json& body, bool echo,
                                           const SchemaOptions& options,
                                           const PromptTokenizer& tokenizer) {
  auto prompt = body.find("prompt");
  if (prompt == body.end() || prompt->is_null()) {
    throw BadRequest("prompt is required", "prompt", "missing");
  }
  std::vector<CompletionPrompt> prompts;
  if (prompt->is_string()) {
    prompts.push_back(TextPrompt(prompt->get<std::string>(), "prompt", echo, options, tokenizer));
    return prompts;
  }
  if (!prompt->is_array()) {
    WrongType("prompt", "a string, a list of token ids, or a list of strings or token-id lists",
              *prompt);
  }
  if (prompt->empty()) throw BadRequest("prompt must not be empty", "prompt");
  const json& first = (*prompt)[0];
  if (first.is_number()) {
    prompts.push_back(IdPrompt(*prompt, "prompt", echo, options, tokenizer));
    return prompts;
  }
  if (!first.is_string() && !first.is_array()) {
    WrongType("prompt[0]", "a string, a token id or a list of token ids", first);
  }
  const int most = std::max(options.max_choices, 1);
  if (std::cmp_greater(prompt->size(), most)) {
    throw BadRequest("prompt lists " + std::to_string(prompt->size()) +
                         " prompts; a request may have at most " + std::to_string(most) +
                         " choices",
                     "prompt", "too_many_choices");
  }
  for (size_t i = 0; i < prompt->size(); ++i) {
    const json& p = (*prompt)[i];
    const std::string param = "prompt[" + std::to_string(i) + "]";
    if (first.is_string()) {
      if (!p.is_string()) WrongType(param, "a string (as prompt[0] is)", p);
      prompts.push_back(TextPrompt(p.get<std::string>(), param, echo, options, tokenizer));
    } else {
      if (!p.is_array()) WrongType(param, "a list of token ids (as prompt[0] is)", p);
      prompts.push_back(IdPrompt(p, param, echo, options, tokenizer));
    }
  }
  return prompts;
}

}  // namespace

CompletionRequest ParseCompletionRequest(std::string_view body_text, const SchemaOptions& options,
                                         const PromptTokenizer& tokenizer) {
  json body = json::parse(body_text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    throw BadRequest("request body is not valid JSON", "", "invalid_json");
  }
  if (!body.is_object()) WrongType("body", "a JSON object", body);
  CompletionRequest out;
  out.sampling.max_new_tokens = 16;  // OpenAI's default for completions
  ParseGenerationFields(body, options, out.fields, out.sampling);
  if (const auto logprobs = ReadInteger<int>(body, "logprobs", "logprobs", 0, 5)) {
    out.sampling.logprobs = *logprobs;
  }
  ReadBool(body, "echo", "echo", out.echo);
  if (out.echo && out.sampling.logprobs >= 0) {
    throw BadRequest(
        "echo with logprobs is not supported: it would need the logprobs of the prompt's tokens, "
        "which the engine does not compute (ask for one or the other)",
        "echo", "unsupported_value");
  }
  if (auto suffix = body.find("suffix"); suffix != body.end() && !suffix->is_null()) {
    if (!suffix->is_string()) WrongType("suffix", "a string", *suffix);
    if (!suffix->get_ref<const std::string&>().empty()) {
      throw BadRequest("suffix is not supported: the model has no fill-in-the-middle", "suffix",
                       "unsupported_value");
    }
  }
  if (const auto best_of =
          ReadInteger<int64_t>(body, "best_of", "best_of", 1, std::numeric_limits<int>::max())) {
    if (*best_of < out.fields.n) {
      throw BadRequest("best_of must be at least n (" + std::to_string(out.fields.n) + ")",
                       "best_of");
    }
    if (*best_of > out.fields.n) {
      throw BadRequest(
          "best_of larger than n is not supported (the server does not rank extra "
          "samples); send n alone",
          "best_of", "unsupported_value");
    }
  }
  out.constraint = ParseOutputConstraint(body);
  out.prompts = ParsePrompts(body, out.echo, options, tokenizer);
  const int most = std::max(options.max_choices, 1);
  if (out.prompts.size() * static_cast<size_t>(out.fields.n) > static_cast<size_t>(most)) {
    throw BadRequest(std::to_string(out.prompts.size()) +
                         " prompts times n=" + std::to_string(out.fields.n) + " is more than the " +
                         std::to_string(most) + " choices a request may have",
                     "n", "too_many_choices");
  }
  return out;
}

}  // namespace qwenvl::server
