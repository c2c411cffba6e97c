// UTF-8 string helpers with Python str semantics: lengths, indices and slices count code points;
// case mapping is Unicode-aware (utf8proc).
#pragma once

#include <string>
#include <vector>

namespace qwenvl::text::jinja {

// Byte offset of each code point, plus s.size() at the end. Invalid bytes count as one each.
std::vector<size_t> CodepointOffsets(const std::string& s);
size_t CodepointCount(const std::string& s);

std::string ToUpper(const std::string& s);
std::string ToLower(const std::string& s);
// Python str.title(): the first letter of each run of letters upper, the rest lower.
std::string ToTitle(const std::string& s);
// Python str.capitalize(): the first code point upper, the rest lower.
std::string Capitalize(const std::string& s);

// Python str.strip/lstrip/rstrip: with chars empty, strips whitespace.
std::string Strip(const std::string& s, const std::string* chars, bool left, bool right);
// Python str.split(): sep null splits on runs of whitespace and drops empty parts.
std::vector<std::string> Split(const std::string& s, const std::string* sep, long max_split);

}  // namespace qwenvl::text::jinja
