// Regex splitting with Oniguruma (see pretokenizer.h).
#include "text/pretokenizer.h"

#include <oniguruma.h>

#include <mutex>

#include "util/error.h"

namespace qwenvl::text {
namespace {

void InitOnigurumaOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
    onig_initialize(encodings, 1);
  });
}

std::string OnigMessage(int code, OnigErrorInfo* info) {
  OnigUChar buffer[ONIG_MAX_ERROR_MESSAGE_LEN] = {};
  onig_error_code_to_str(buffer, code, info);
  return reinterpret_cast<const char*>(buffer);
}

struct RegionFree {
  void operator()(OnigRegion* region) const { onig_region_free(region, 1); }
};

}  // namespace

void RegexSplitter::RegexFree::operator()(re_pattern_buffer* regex) const { onig_free(regex); }

RegexSplitter::RegexSplitter(std::string_view pattern, const std::string& source) {
  InitOnigurumaOnce();
  const auto* begin = reinterpret_cast<const OnigUChar*>(pattern.data());
  OnigErrorInfo info{};
  regex_t* regex = nullptr;
  // ONIG_SYNTAX_ONIGURUMA is the default syntax of Oniguruma 6, which is what HF tokenizers' onig
  // crate compiles with (Regex::new).
  const int rc = onig_new(&regex, begin, begin + pattern.size(), ONIG_OPTION_NONE,
                          ONIG_ENCODING_UTF8, ONIG_SYNTAX_ONIGURUMA, &info);
  if (rc != ONIG_NORMAL) {
    throw Error(ErrorCode::kCorruptFile, source + ": pre-tokenizer regex does not compile (" +
                                             OnigMessage(rc, &info) + "): " + std::string(pattern));
  }
  regex_.reset(regex);
}

RegexSplitter::~RegexSplitter() = default;

void RegexSplitter::Split(std::string_view text, std::vector<std::string_view>* pieces) const {
  std::unique_ptr<OnigRegion, RegionFree> region(onig_region_new());
  const auto* str = reinterpret_cast<const OnigUChar*>(text.data());
  const OnigUChar* end = str + text.size();
  size_t gap_start = 0;  // end of the previous match: text between it and the next match is a gap
  size_t pos = 0;
  while (pos < text.size()) {
    const int found =
        onig_search(regex_.get(), str, end, str + pos, end, region.get(), ONIG_OPTION_NONE);
    // ONIG_MISMATCH ends the search; so does any other error (only a backtracking limit can fail on
    // valid UTF-8): the rest of the text then stays whole as one gap piece rather than being lost.
    if (found < 0) break;
    const auto match_begin = static_cast<size_t>(region->beg[0]);
    const auto match_end = static_cast<size_t>(region->end[0]);
    if (match_begin > gap_start) pieces->push_back(text.substr(gap_start, match_begin - gap_start));
    if (match_end > match_begin) {
      pieces->push_back(text.substr(match_begin, match_end - match_begin));
      pos = match_end;
    } else {
      // An empty match yields no piece; step over one character so the search moves on.
      pos = match_begin + 1;
      while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
    }
    gap_start = match_end > gap_start ? match_end : gap_start;
  }
  if (gap_start < text.size()) pieces->push_back(text.substr(gap_start));
}

}  // namespace qwenvl::text
