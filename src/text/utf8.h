// UTF-8 validation and repair shared by the tokenizer, its decoders and the stream decoder.
//
// Invalid input is repaired the way Rust's String::from_utf8_lossy (and so HF tokenizers' decode)
// does it: each maximal subpart of an ill-formed sequence (Unicode §3.9, "substitution of maximal
// subparts") becomes one U+FFFD. Using the same rule for encode input and decode output keeps
// Decode identical to the reference and makes the streaming decoder's output equal to the one-shot
// decode.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace qwenvl::text {

// U+FFFD REPLACEMENT CHARACTER, UTF-8 encoded.
inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

// What sits at the start of a byte range.
struct Utf8Unit {
  enum class Kind { kValid, kInvalid, kTruncated };
  Kind kind;
  // kValid: length of the well-formed sequence (1..4). kInvalid: length of the maximal ill-formed
  // subpart to replace by one U+FFFD (1..3). kTruncated: the bytes left form a valid but unfinished
  // prefix of a sequence (1..3), i.e. more input could complete it.
  size_t length;
};

// Classifies the unit at the start of `bytes` (must be non-empty).
Utf8Unit NextUtf8Unit(std::string_view bytes);

bool IsValidUtf8(std::string_view bytes);

// Returns `bytes` with every ill-formed subpart (including a truncated tail) replaced by U+FFFD.
std::string SanitizeUtf8(std::string_view bytes);

// Length of the trailing bytes of `bytes` that form an unfinished but still completable sequence
// (0..3). The rest, bytes[0, size - tail), can be repaired and emitted without waiting for more
// input.
size_t IncompleteUtf8Tail(std::string_view bytes);

// Appends the UTF-8 encoding of a Unicode scalar value (code_point must be ≤ 0x10FFFF, no
// surrogate).
void AppendUtf8(char32_t code_point, std::string* out);

// Decodes the well-formed sequence at the start of `bytes`; returns its length (0 if not
// well-formed).
size_t DecodeUtf8(std::string_view bytes, char32_t* code_point);

}  // namespace qwenvl::text
