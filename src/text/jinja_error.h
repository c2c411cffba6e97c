// Errors raised while parsing or rendering a chat template: each names the template line.
#pragma once

#include <string>

#include "util/error.h"

namespace qwenvl::text::jinja {

// Throws qwenvl::Error "chat template line N: <message>".
[[noreturn]] inline void ThrowAt(ErrorCode code, int line, const std::string& message) {
  throw Error(code, "chat template line " + std::to_string(line) + ": " + message);
}

// A construct of full Jinja that this interpreter does not implement (macro, include, ...).
[[noreturn]] inline void ThrowUnsupported(int line, const std::string& construct) {
  ThrowAt(ErrorCode::kUnsupported, line, "unsupported construct " + construct);
}

// Malformed template source.
[[noreturn]] inline void ThrowSyntax(int line, const std::string& message) {
  ThrowAt(ErrorCode::kCorruptFile, line, "syntax error: " + message);
}

}  // namespace qwenvl::text::jinja
