// The GPT-2 byte <-> character table (see byte_level.h).
#include "text/byte_level.h"

#include <array>

#include "text/utf8.h"

namespace qwenvl::text {
namespace {

struct ByteLevelTable {
  std::array<std::string, 256> byte_to_char;  // UTF-8 spelling of each byte
  std::array<int16_t, 324> char_to_byte;      // code point (< 324) -> byte, -1 outside the alphabet
};

// Bytes printed as themselves: '!'..'~', '¡'..'¬', '®'..'ÿ' (GPT-2's bytes_to_unicode).
bool IsSelfMapped(int b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

ByteLevelTable BuildTable() {
  ByteLevelTable table;
  table.char_to_byte.fill(-1);
  char32_t next_extra = 256;
  for (int b = 0; b < 256; ++b) {
    const char32_t c = IsSelfMapped(b) ? static_cast<char32_t>(b) : next_extra++;
    AppendUtf8(c, &table.byte_to_char[b]);
    table.char_to_byte[c] = static_cast<int16_t>(b);
  }
  return table;
}

const ByteLevelTable& Table() {
  static const ByteLevelTable table = BuildTable();
  return table;
}

}  // namespace

const std::string& ByteLevelChar(uint8_t byte) { return Table().byte_to_char[byte]; }

void ByteLevelDecode(std::string_view token, std::string* out) {
  const ByteLevelTable& table = Table();
  const size_t start = out->size();
  size_t i = 0;
  while (i < token.size()) {
    char32_t c = 0;
    const size_t len = DecodeUtf8(token.substr(i), &c);
    if (len == 0 || c >= table.char_to_byte.size() || table.char_to_byte[c] < 0) {
      out->resize(start);
      out->append(token);
      return;
    }
    out->push_back(static_cast<char>(table.char_to_byte[c]));
    i += len;
  }
}

std::string ByteLevelEncode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char b : bytes) out.append(ByteLevelChar(static_cast<uint8_t>(b)));
  return out;
}

}  // namespace qwenvl::text
