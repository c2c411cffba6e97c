// UTF-8 validation and lossy repair (see utf8.h for the rule).
#include "text/utf8.h"

#include <cstdint>

namespace qwenvl::text {
namespace {

// Number of bytes of the sequence introduced by a lead byte, 0 if the byte cannot start one.
// C0, C1 and F5..FF never appear in well-formed UTF-8 (Unicode Table 3-7).
int SequenceLength(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// Allowed range of the second byte after a lead (Table 3-7 excludes overlongs and surrogates).
bool SecondByteOk(uint8_t lead, uint8_t b) {
  switch (lead) {
    case 0xE0:
      return b >= 0xA0 && b <= 0xBF;
    case 0xED:
      return b >= 0x80 && b <= 0x9F;
    case 0xF0:
      return b >= 0x90 && b <= 0xBF;
    case 0xF4:
      return b >= 0x80 && b <= 0x8F;
    default:
      return b >= 0x80 && b <= 0xBF;
  }
}

bool IsContinuation(uint8_t b) { return (b & 0xC0) == 0x80; }

}  // namespace

Utf8Unit NextUtf8Unit(std::string_view bytes) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const int need = SequenceLength(p[0]);
  if (need == 0) return {Utf8Unit::Kind::kInvalid, 1};
  if (need == 1) return {Utf8Unit::Kind::kValid, 1};
  size_t have = 1;
  for (; have < static_cast<size_t>(need); ++have) {
    if (have == bytes.size()) return {Utf8Unit::Kind::kTruncated, have};
    const bool ok = have == 1 ? SecondByteOk(p[0], p[1]) : IsContinuation(p[have]);
    if (!ok) return {Utf8Unit::Kind::kInvalid, have};
  }
  return {Utf8Unit::Kind::kValid, have};
}

bool IsValidUtf8(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    if (static_cast<uint8_t>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    const Utf8Unit unit = NextUtf8Unit(bytes.substr(i));
    if (unit.kind != Utf8Unit::Kind::kValid) return false;
    i += unit.length;
  }
  return true;
}

std::string SanitizeUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const Utf8Unit unit = NextUtf8Unit(bytes.substr(i));
    if (unit.kind == Utf8Unit::Kind::kValid) {
      out.append(bytes.substr(i, unit.length));
    } else {
      out.append(kReplacementChar);
    }
    i += unit.length;
  }
  return out;
}

size_t IncompleteUtf8Tail(std::string_view bytes) {
  // A completable tail is at most 3 bytes long, so only the last 3 lead-byte candidates matter.
  const size_t n = bytes.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const uint8_t b = static_cast<uint8_t>(bytes[n - back]);
    if (IsContinuation(b)) continue;
    const Utf8Unit unit = NextUtf8Unit(bytes.substr(n - back));
    return unit.kind == Utf8Unit::Kind::kTruncated ? back : 0;
  }
  return 0;
}

void AppendUtf8(char32_t code_point, std::string* out) {
  const uint32_t c = code_point;
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

size_t DecodeUtf8(std::string_view bytes, char32_t* code_point) {
  if (bytes.empty()) return 0;
  const Utf8Unit unit = NextUtf8Unit(bytes);
  if (unit.kind != Utf8Unit::Kind::kValid) return 0;
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  static constexpr uint8_t kLeadMask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  uint32_t c = p[0] & kLeadMask[unit.length];
  for (size_t k = 1; k < unit.length; ++k) c = (c << 6) | (p[k] & 0x3F);
  *code_point = c;
  return unit.length;
}

}  // namespace qwenvl::text
