// The byte-level alphabet of GPT-2-style BPE (HF tokenizers' ByteLevel pre-tokenizer and decoder):
// each of the 256 byte values is written as one printable Unicode character, so that every byte
// string is a string of vocabulary characters. Printable Latin-1 bytes stand for themselves; the
// others (controls, space, 0x7F..0xA0, 0xAD) take the code points 256, 257, ... in byte order,
// which is why a space shows up as "Ġ" (U+0120) in the vocabulary.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace qwenvl::text {

// The UTF-8 encoding of the character that stands for `byte`.
const std::string& ByteLevelChar(uint8_t byte);

// Maps a byte-level token back to raw bytes, appended to `out`. Like HF's ByteLevel decoder, a
// token holding any character outside the alphabet (an added token such as "<|im_start|>" is inside
// it, but one with non-Latin content may not be) is copied as its own UTF-8 bytes instead.
void ByteLevelDecode(std::string_view token, std::string* out);

// Maps raw bytes to their byte-level spelling (the inverse of ByteLevelDecode on the alphabet).
std::string ByteLevelEncode(std::string_view bytes);

}  // namespace qwenvl::text
