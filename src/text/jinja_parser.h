// Parses chat-template tokens into a statement tree. Only the Jinja subset chat templates use is
// accepted; macros, includes, call/filter blocks, recursive loops etc. raise qwenvl::Error naming
// the construct and line (model-spec §8.3).
#pragma once

#include <string>

#include "text/jinja_ast.h"

namespace qwenvl::text::jinja {

// Nesting depth of blocks and expressions beyond which parsing fails (bounds recursion).
inline constexpr int kMaxParseDepth = 128;

Body Parse(const std::string& source);

}  // namespace qwenvl::text::jinja
