// The Split pre-tokenizer of HF tokenizers with behavior "Isolated": a regex cuts the normalized
// text into pieces; every match is a piece and so is every gap between matches. BPE then runs on
// each piece on its own, so no token crosses a piece boundary. The regex is compiled with
// Oniguruma, the engine HF tokenizers itself uses, from the pattern string found in tokenizer.json
// (for Qwen2 the pattern keeps letters, single digits, punctuation runs and whitespace runs apart).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct re_pattern_buffer;  // Oniguruma's compiled regex (regex_t)

namespace qwenvl::text {

class RegexSplitter {
 public:
  // Compiles `pattern` (UTF-8, Oniguruma syntax). Throws Error(kCorruptFile) naming `source` (the
  // file the pattern came from) and Oniguruma's message when it does not compile.
  RegexSplitter(std::string_view pattern, const std::string& source);
  ~RegexSplitter();
  RegexSplitter(RegexSplitter&&) noexcept = default;
  RegexSplitter& operator=(RegexSplitter&&) noexcept = default;

  // Appends the pieces of `text` (valid UTF-8) to `pieces`, in order; they concatenate back to
  // `text`. Safe to call from several threads at once (each call has its own match region).
  void Split(std::string_view text, std::vector<std::string_view>* pieces) const;

 private:
  struct RegexFree {
    void operator()(re_pattern_buffer* regex) const;
  };
  std::unique_ptr<re_pattern_buffer, RegexFree> regex_;
};

}  // namespace qwenvl::text
