// Leftmost-longest matching of added tokens (see added_tokens.h).
#include "text/added_tokens.h"

#include <algorithm>

namespace qwenvl::text {
namespace {

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// A word character for single_word: ASCII alphanumerics, underscore and any non-ASCII byte (letters
// of other scripts); HF uses Unicode \w, which differs only for non-ASCII punctuation.
bool IsWordByte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
         u == '_';
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  for (uint32_t i = 0; i < tokens_.size(); ++i) {
    const std::string& content = tokens_[i].content;
    if (content.empty()) continue;  // an empty token can never be written in text
    by_first_byte_[static_cast<unsigned char>(content[0])].push_back(i);
  }
  for (auto& list : by_first_byte_) {
    std::stable_sort(list.begin(), list.end(), [this](uint32_t a, uint32_t b) {
      return tokens_[a].content.size() > tokens_[b].content.size();
    });
  }
}

bool AddedTokenMatcher::MatchAt(std::string_view text, size_t pos, size_t* length,
                                const AddedToken** token) const {
  for (uint32_t index : by_first_byte_[static_cast<unsigned char>(text[pos])]) {
    const AddedToken& t = tokens_[index];
    if (text.compare(pos, t.content.size(), t.content) != 0) continue;
    const size_t end = pos + t.content.size();
    if (t.single_word &&
        ((pos > 0 && IsWordByte(text[pos - 1])) || (end < text.size() && IsWordByte(text[end])))) {
      continue;
    }
    *length = t.content.size();
    *token = &t;
    return true;
  }
  return false;
}

bool AddedTokenMatcher::FindNext(std::string_view text, size_t from, Match* match) const {
  for (size_t pos = from; pos < text.size(); ++pos) {
    if (by_first_byte_[static_cast<unsigned char>(text[pos])].empty()) continue;
    size_t length = 0;
    const AddedToken* token = nullptr;
    if (!MatchAt(text, pos, &length, &token)) continue;
    match->begin = pos;
    match->end = pos + length;
    match->id = token->id;
    if (token->lstrip) {
      while (match->begin > from && IsAsciiSpace(text[match->begin - 1])) --match->begin;
    }
    if (token->rstrip) {
      while (match->end < text.size() && IsAsciiSpace(text[match->end])) ++match->end;
    }
    return true;
  }
  return false;
}

std::vector<TextSegment> AddedTokenMatcher::Split(std::string_view text) const {
  std::vector<TextSegment> segments;
  size_t pos = 0;
  Match match;
  while (pos < text.size() && FindNext(text, pos, &match)) {
    if (match.begin > pos) segments.push_back({text.substr(pos, match.begin - pos), -1});
    segments.push_back({text.substr(match.begin, match.end - match.begin), match.id});
    pos = match.end;
  }
  if (pos < text.size()) segments.push_back({text.substr(pos), -1});
  return segments;
}

}  // namespace qwenvl::text
