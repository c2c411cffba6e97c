// GBNF, the grammar notation of llama.cpp, parsed into a byte-level Grammar:
//   root   ::= answer ws          # a rule: name ::= alternatives; '#' starts a comment
//   answer ::= "yes" | "no" | [0-9]+ ("." [0-9]+)? | item{2,4} | [^"\\] | .
// Literals and classes take the escapes \n \r \t \\ \" \' \] \[ \- \xHH \uHHHH \UHHHHHHHH (code
// points, matched as UTF-8). A rule's body runs on across lines until the next `name ::=`.
#pragma once

#include <string>
#include <string_view>

#include "grammar/grammar.h"

namespace qwenvl::grammar {

inline constexpr size_t kMaxGrammarText = 4 << 20;

// Throws Error(kInvalidArgument) naming the line and column of the problem.
Grammar ParseGbnf(std::string_view text, const std::string& root = "root");

// A GBNF literal ("...") matching exactly `bytes`.
std::string GbnfLiteral(std::string_view bytes);
// A GBNF class item for one code point (escaped where the class syntax needs it).
std::string GbnfClassChar(uint32_t cp);
// The UTF-8 form of a code point.
void AppendUtf8(uint32_t cp, std::string* out);

}  // namespace qwenvl::grammar
