// Fuzzes the tokenizer on the Qwen2.5-VL vocabulary. The first byte picks the mode:
//   even: the rest is text (any bytes, invalid UTF-8 included) to encode; then decoding the ids
//   must
//         give back the repaired, NFC-normalized text (checked when no added token can occur in
//         it);
//   odd:  the rest is little-endian int32 ids (any value) to decode, one-shot and streamed, which
//   must
//         agree and be valid UTF-8.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "text/normalizer.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

namespace {

const qwenvl::text::Tokenizer& FuzzTokenizer() {
  // The checked-in tokenizer, found from this file's path (fuzz/ is beside tests/).
  static const qwenvl::text::Tokenizer tokenizer = qwenvl::text::Tokenizer::FromModelDir(
      (std::filesystem::path(__FILE__).parent_path().parent_path() / "tests" / "data" /
       "qwen2.5-vl-3b-instruct")
          .string());
  return tokenizer;
}

void Check(bool ok) {
  if (!ok) std::abort();
}

void FuzzEncode(std::string_view text) {
  const qwenvl::text::Tokenizer& tok = FuzzTokenizer();
  const std::vector<qwenvl::TokenId> ids = tok.Encode(text);
  for (qwenvl::TokenId id : ids) Check(id >= 0 && id < tok.vocab_size());
  const std::string decoded = tok.Decode(ids);
  Check(qwenvl::text::IsValidUtf8(decoded));
  const std::string repaired = qwenvl::text::SanitizeUtf8(text);
  // Added tokens (all start with '<') cut NFC into separate runs; elsewhere the round trip is
  // exact.
  if (repaired.find('<') == std::string::npos) {
    Check(decoded == qwenvl::text::NormalizeNfc(repaired));
  }
}

void FuzzDecode(std::string_view bytes) {
  const qwenvl::text::Tokenizer& tok = FuzzTokenizer();
  std::vector<qwenvl::TokenId> ids(bytes.size() / 4);
  if (!ids.empty()) std::memcpy(ids.data(), bytes.data(), ids.size() * 4);
  for (bool skip : {false, true}) {
    const std::string whole = tok.Decode(ids, skip);
    Check(qwenvl::text::IsValidUtf8(whole));
    qwenvl::text::StreamDecoder stream(tok, skip);
    std::string streamed;
    for (qwenvl::TokenId id : ids) {
      const std::string piece = stream.Push(id);
      Check(qwenvl::text::IsValidUtf8(piece));
      streamed += piece;
    }
    streamed += stream.Flush();
    Check(streamed == whole);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    FuzzEncode(rest);
  } else {
    FuzzDecode(rest);
  }
  return 0;
}
