// UTF-8 helpers for the chat-template string methods and filters.
#include "text/jinja_unicode.h"

#include <utf8proc.h>

namespace qwenvl::text::jinja {
namespace {

// Maps each code point with `f`; bytes that are not valid UTF-8 pass through unchanged.
template <typename F>
std::string MapCodepoints(const std::string& s, F f) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  size_t index = 0;
  while (i < s.size()) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                          static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (n <= 0) {
      out += s[i++];
      ++index;
      continue;
    }
    utf8proc_uint8_t buf[4];
    utf8proc_ssize_t m = utf8proc_encode_char(f(cp, index), buf);
    out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(m));
    i += static_cast<size_t>(n);
    ++index;
  }
  return out;
}

bool IsWhitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' ||
         (c >= '\x1c' && c <= '\x1f');
}

bool IsLetter(utf8proc_int32_t cp) {
  utf8proc_category_t cat = utf8proc_category(cp);
  return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
}

}  // namespace

std::vector<size_t> CodepointOffsets(const std::string& s) {
  std::vector<size_t> offsets;
  size_t i = 0;
  while (i < s.size()) {
    offsets.push_back(i);
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                          static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    i += n > 0 ? static_cast<size_t>(n) : 1;
  }
  offsets.push_back(s.size());
  return offsets;
}

size_t CodepointCount(const std::string& s) { return CodepointOffsets(s).size() - 1; }

std::string ToUpper(const std::string& s) {
  return MapCodepoints(s, [](utf8proc_int32_t cp, size_t) { return utf8proc_toupper(cp); });
}

std::string ToLower(const std::string& s) {
  return MapCodepoints(s, [](utf8proc_int32_t cp, size_t) { return utf8proc_tolower(cp); });
}

std::string Capitalize(const std::string& s) {
  return MapCodepoints(s, [](utf8proc_int32_t cp, size_t index) {
    return index == 0 ? utf8proc_toupper(cp) : utf8proc_tolower(cp);
  });
}

std::string ToTitle(const std::string& s) {
  bool prev_letter = false;
  return MapCodepoints(s, [&prev_letter](utf8proc_int32_t cp, size_t) {
    bool letter = IsLetter(cp);
    utf8proc_int32_t r = letter ? (prev_letter ? utf8proc_tolower(cp) : utf8proc_totitle(cp)) : cp;
    prev_letter = letter;
    return r;
  });
}

std::string Strip(const std::string& s, const std::string* chars, bool left, bool right) {
  auto strip_char = [chars](char c) {
    return chars == nullptr ? IsWhitespace(c) : chars->find(c) != std::string::npos;
  };
  size_t begin = 0;
  size_t end = s.size();
  if (left) {
    while (begin < end && strip_char(s[begin])) ++begin;
  }
  if (right) {
    while (end > begin && strip_char(s[end - 1])) --end;
  }
  return s.substr(begin, end - begin);
}

std::vector<std::string> Split(const std::string& s, const std::string* sep, long max_split) {
  std::vector<std::string> parts;
  if (sep == nullptr) {
    size_t i = 0;
    while (true) {
      while (i < s.size() && IsWhitespace(s[i])) ++i;
      if (i >= s.size()) break;
      if (max_split >= 0 && static_cast<long>(parts.size()) == max_split) {
        parts.push_back(Strip(s.substr(i), nullptr, false, true));
        break;
      }
      size_t j = i;
      while (j < s.size() && !IsWhitespace(s[j])) ++j;
      parts.push_back(s.substr(i, j - i));
      i = j;
    }
    return parts;
  }
  if (sep->empty()) return {s};  // callers reject an empty separator, as Python does
  size_t start = 0;
  while (max_split < 0 || static_cast<long>(parts.size()) < max_split) {
    size_t found = s.find(*sep, start);
    if (found == std::string::npos) break;
    parts.push_back(s.substr(start, found - start));
    start = found + sep->size();
  }
  parts.push_back(s.substr(start));
  return parts;
}

}  // namespace qwenvl::text::jinja
