// The NFC normalizer of tokenizer.json ("normalizer": {"type": "NFC"}), via utf8proc.
#pragma once

#include <string>
#include <string_view>

namespace qwenvl::text {

// Returns `text` (valid UTF-8) in Unicode Normalization Form C. Text whose code points are all
// below U+0300 is already NFC (nothing there decomposes or combines) and is returned as is without
// calling utf8proc, which keeps plain ASCII and Latin-1 text cheap.
std::string NormalizeNfc(std::string_view text);

}  // namespace qwenvl::text
