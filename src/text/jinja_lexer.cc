// Jinja lexer: text, {{ }}, {% %}, {# #}, {% raw %}, and whitespace control. transformers renders
// chat templates with trim_blocks (drop the newline after %} and #}) and lstrip_blocks (drop the
// spaces before {% and {# on their line); `-` strips all whitespace on that side, `+` disables
// both.
#include "text/jinja_lexer.h"

#include <algorithm>
#include <cstring>

#include "text/jinja_error.h"

namespace qwenvl::text::jinja {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || IsDigit(c); }

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Jinja normalizes \r\n and \r to \n and drops one trailing newline (keep_trailing_newline=False).
std::string NormalizeNewlines(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  explicit Lexer(const std::string& source) : src_(NormalizeNewlines(source)) {
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') newlines_.push_back(i);
    }
  }

  std::vector<Token> Run() {
    size_t pos = 0;
    while (pos < src_.size()) {
      size_t start = FindTag(pos);
      if (start == std::string::npos) {
        EmitText(pos, src_.size(), 0, 0);
        break;
      }
      char kind = src_[start + 1];
      char mod = start + 2 < src_.size() ? src_[start + 2] : 0;
      EmitText(pos, start, kind, mod);
      if (kind == '#') {
        pos = LexComment(start);
      } else if (size_t after = kind == '%' ? MatchRawOpen(start) : 0; after != 0) {
        pos = LexRaw(start, after);
      } else {
        pos = LexTag(start, kind == '{');
      }
    }
    out_.push_back({Token::Kind::kEof, "", LineAt(src_.size())});
    return std::move(out_);
  }

 private:
  int LineAt(size_t pos) const {
    return 1 + static_cast<int>(std::lower_bound(newlines_.begin(), newlines_.end(), pos) -
                                newlines_.begin());
  }

  size_t FindTag(size_t pos) const {
    while (true) {
      pos = src_.find('{', pos);
      if (pos == std::string::npos || pos + 1 >= src_.size()) return std::string::npos;
      char c = src_[pos + 1];
      if (c == '{' || c == '%' || c == '#') return pos;
      ++pos;
    }
  }

  // Text in [begin, end) that precedes a tag of `kind` ('{', '%', '#', or 0 at the end) whose
  // opening modifier is `mod` ('-', '+' or other).
  void EmitText(size_t begin, size_t end, char kind, char mod) {
    std::string text = src_.substr(begin, end - begin);
    if (strip_next_) {
      size_t first = 0;
      while (first < text.size() && IsSpace(text[first])) ++first;
      text.erase(0, first);
      strip_next_ = false;
    }
    if (kind != 0 && mod == '-') {
      while (!text.empty() && IsSpace(text.back())) text.pop_back();
    } else if ((kind == '%' || kind == '#') && mod != '+') {
      // lstrip_blocks: only spaces/tabs between the line start and the tag are removed.
      size_t nl = text.rfind('\n');
      size_t tail = nl == std::string::npos ? 0 : nl + 1;
      bool line_start = nl != std::string::npos || begin == 0 || src_[begin - 1] == '\n';
      if (line_start && text.find_first_not_of(" \t", tail) == std::string::npos) text.resize(tail);
    }
    if (!text.empty()) out_.push_back({Token::Kind::kText, std::move(text), LineAt(begin)});
  }

  // After a closing %} or #}: `-` strips following whitespace, `+` keeps it, else trim_blocks.
  size_t AfterClose(size_t pos, char mod) {
    if (mod == '-') {
      strip_next_ = true;
    } else if (mod != '+' && pos < src_.size() && src_[pos] == '\n') {
      ++pos;
    }
    return pos;
  }

  size_t LexComment(size_t start) {
    size_t end = src_.find("#}", start + 2);
    if (end == std::string::npos) ThrowSyntax(LineAt(start), "comment {# is never closed by #}");
    char mod = end > start + 2 ? src_[end - 1] : 0;
    return AfterClose(end + 2, mod);
  }

  // Matches `{%[-+]? raw [-+]?%}` at start (or `endraw` when `word` says so); returns the position
  // after it or 0, and stores the closing modifier.
  size_t MatchWordTag(size_t start, const char* word, char* close_mod) const {
    size_t p = start + 2;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
    while (p < src_.size() && IsSpace(src_[p])) ++p;
    size_t len = std::strlen(word);
    if (src_.compare(p, len, word) != 0) return 0;
    p += len;
    if (p < src_.size() && IsNameChar(src_[p])) return 0;
    while (p < src_.size() && IsSpace(src_[p])) ++p;
    *close_mod = 0;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) *close_mod = src_[p++];
    if (src_.compare(p, 2, "%}") != 0) return 0;
    return p + 2;
  }

  size_t MatchRawOpen(size_t start) { return MatchWordTag(start, "raw", &raw_close_mod_); }

  size_t LexRaw(size_t start, size_t after_open) {
    size_t body = AfterClose(after_open, raw_close_mod_);
    for (size_t c = FindTag(body); c != std::string::npos; c = FindTag(c + 1)) {
      char close_mod = 0;
      size_t after = src_[c + 1] == '%' ? MatchWordTag(c, "endraw", &close_mod) : 0;
      if (after == 0) continue;
      EmitText(body, c, '%', src_[c + 2]);
      return AfterClose(after, close_mod);
    }
    ThrowSyntax(LineAt(start), "{% raw %} is never closed by {% endraw %}");
  }

  size_t LexTag(size_t start, bool is_var) {
    out_.push_back({is_var ? Token::Kind::kVarBegin : Token::Kind::kBlockBegin, "", LineAt(start)});
    size_t p = start + 2;
    if (p < src_.size() && (src_[p] == '-' || (!is_var && src_[p] == '+'))) ++p;
    std::vector<char> balance;  // open brackets inside the tag: }} / %} only end it at depth 0
    const char* close = is_var ? "}}" : "%}";
    while (true) {
      while (p < src_.size() && IsSpace(src_[p])) ++p;
      if (p >= src_.size())
        ThrowSyntax(LineAt(start), std::string("tag is never closed by ") + close);
      if (balance.empty()) {
        char mod = src_[p];
        size_t q = (mod == '-' || (!is_var && mod == '+')) ? p + 1 : p;
        if (src_.compare(q, 2, close) == 0) {
          out_.push_back({is_var ? Token::Kind::kVarEnd : Token::Kind::kBlockEnd, "", LineAt(p)});
          if (is_var) {
            if (mod == '-') strip_next_ = true;
            return q + 2;
          }
          return AfterClose(q + 2, q == p ? 0 : mod);
        }
      }
      p = LexExprToken(p, balance);
    }
  }

  size_t LexExprToken(size_t p, std::vector<char>& balance) {
    char c = src_[p];
    if (IsNameStart(c)) {
      size_t e = p;
      while (e < src_.size() && IsNameChar(src_[e])) ++e;
      out_.push_back({Token::Kind::kName, src_.substr(p, e - p), LineAt(p)});
      return e;
    }
    if (IsDigit(c)) return LexNumber(p);
    if (c == '\'' || c == '"') return LexString(p);
    static const char* const kOps[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*",
                                       "/",  "%",  "~",  "<",  ">",  "=",  "(", ")", "[",
                                       "]",  "{",  "}",  ",",  ".",  ":",  "|", ";"};
    for (const char* op : kOps) {
      size_t len = std::strlen(op);
      if (src_.compare(p, len, op) != 0) continue;
      if (len == 1 && std::strchr("([{", op[0]) != nullptr) balance.push_back(op[0]);
      if (len == 1 && std::strchr(")]}", op[0]) != nullptr) {
        static const char kOpen[] = {'(', '[', '{'};
        char want = kOpen[std::strchr(")]}", op[0]) - ")]}"];
        if (balance.empty() || balance.back() != want) {
          ThrowSyntax(LineAt(p), std::string("unexpected '") + op + "'");
        }
        balance.pop_back();
      }
      out_.push_back({Token::Kind::kOp, op, LineAt(p)});
      return p + len;
    }
    ThrowSyntax(LineAt(p), std::string("unexpected character '") + c + "'");
  }

  size_t ScanDigits(size_t p, std::string& out, bool hex) const {
    while (p < src_.size() && (IsDigit(src_[p]) || src_[p] == '_' ||
                               (hex && std::isxdigit(static_cast<unsigned char>(src_[p]))))) {
      if (src_[p] != '_') out += src_[p];
      ++p;
    }
    return p;
  }

  size_t LexNumber(size_t p) {
    std::string digits;
    int line = LineAt(p);
    if (src_[p] == '0' && p + 1 < src_.size() && std::strchr("xXoObB", src_[p + 1]) != nullptr &&
        src_[p + 1] != 0) {
      digits = src_.substr(p, 2);
      size_t e = ScanDigits(p + 2, digits, true);
      out_.push_back({Token::Kind::kInt, digits, line});
      return e;
    }
    p = ScanDigits(p, digits, false);
    bool is_float = false;
    if (p + 1 < src_.size() && src_[p] == '.' && IsDigit(src_[p + 1])) {
      digits += '.';
      p = ScanDigits(p + 1, digits, false);
      is_float = true;
    }
    if (p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
      size_t q = p + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < src_.size() && IsDigit(src_[q])) {
        digits += 'e';
        digits.append(src_, p + 1, q - p - 1);
        p = ScanDigits(q, digits, false);
        is_float = true;
      }
    }
    out_.push_back({is_float ? Token::Kind::kFloat : Token::Kind::kInt, digits, line});
    return p;
  }

  size_t LexString(size_t p) {
    char quote = src_[p];
    int line = LineAt(p);
    std::string value;
    size_t i = p + 1;
    while (true) {
      if (i >= src_.size()) ThrowSyntax(line, "string literal is never closed");
      char c = src_[i];
      if (c == quote) break;
      if (c != '\\' || i + 1 >= src_.size()) {
        value += c;
        ++i;
        continue;
      }
      i = Unescape(i + 1, value, line);
    }
    out_.push_back({Token::Kind::kString, std::move(value), line});
    return i + 1;
  }

  // Python "unicode-escape" decoding of the escape that starts after the backslash at p.
  size_t Unescape(size_t p, std::string& out, int line) const {
    char c = src_[p];
    static const char kSimple[] = "n\nt\tr\rb\bf\fv\va\a\\\\''\"\"";
    for (size_t k = 0; kSimple[k] != 0; k += 2) {
      if (c == kSimple[k]) {
        out += kSimple[k + 1];
        return p + 1;
      }
    }
    if (c == '\n') return p + 1;  // line continuation
    if (c >= '0' && c <= '7') {
      uint32_t v = 0;
      size_t i = p;
      for (; i < p + 3 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++i)
        v = v * 8 + (src_[i] - '0');
      AppendUtf8(out, v);
      return i;
    }
    int width = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (width == 0) {
      out += '\\';  // unknown escapes keep their backslash, as in Python
      return p;
    }
    uint32_t v = 0;
    for (int k = 1; k <= width; ++k) {
      char h = p + k < src_.size() ? src_[p + k] : 0;
      if (!std::isxdigit(static_cast<unsigned char>(h)))
        ThrowSyntax(line, "truncated \\" + std::string(1, c) + " escape");
      v = v * 16 + static_cast<uint32_t>(IsDigit(h) ? h - '0' : (std::tolower(h) - 'a' + 10));
    }
    if (v > 0x10FFFF) ThrowSyntax(line, "escape \\U beyond U+10FFFF");
    AppendUtf8(out, v);
    return p + 1 + width;
  }

  std::string src_;
  std::vector<size_t> newlines_;  // positions of '\n' in src_, for line numbers
  std::vector<Token> out_;
  bool strip_next_ = false;  // a `-` closed the last tag: strip the next text's leading whitespace
  char raw_close_mod_ = 0;
};

}  // namespace

std::vector<Token> Tokenize(const std::string& source) { return Lexer(source).Run(); }

}  // namespace qwenvl::text::jinja
