// Splits chat-template source into text and tag tokens, applying Jinja's whitespace control the way
// transformers configures it (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False).
#pragma once

#include <string>
#include <vector>

namespace qwenvl::text::jinja {

struct Token {
  enum class Kind {
    kText,        // literal output (already whitespace-trimmed)
    kVarBegin,    // {{
    kVarEnd,      // }}
    kBlockBegin,  // {%
    kBlockEnd,    // %}
    kName,
    kString,  // text holds the unescaped value
    kInt,     // text holds the digits (underscores removed; 0x/0o/0b kept)
    kFloat,
    kOp,  // text holds the operator: "+", "//", "==", "(", ...
    kEof,
  };
  Kind kind;
  std::string text;
  int line;
};

// Throws qwenvl::Error (naming the line) on unclosed tags, strings or comments and stray
// characters.
std::vector<Token> Tokenize(const std::string& source);

}  // namespace qwenvl::text::jinja
