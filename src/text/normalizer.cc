// NFC through utf8proc (see normalizer.h).
#include "text/normalizer.h"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "util/error.h"

namespace qwenvl::text {
namespace {

// True when every code point is below U+0300: lead bytes 0xC2..0xCB cover U+0080..U+02FF.
bool BelowCombiningMarks(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0xCC) return false;
  }
  return true;
}

}  // namespace

std::string NormalizeNfc(std::string_view text) {
  if (BelowCombiningMarks(text)) return std::string(text);
  utf8proc_uint8_t* result = nullptr;
  const auto options = static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  const utf8proc_ssize_t length =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &result, options);
  if (length < 0) {
    // The tokenizer repairs its input before normalizing, so this is a broken invariant.
    throw Error(ErrorCode::kInternal,
                std::string("NFC normalization failed: ") + utf8proc_errmsg(length));
  }
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(result, &std::free);
  return std::string(reinterpret_cast<const char*>(result), static_cast<size_t>(length));
}

}  // namespace qwenvl::text
