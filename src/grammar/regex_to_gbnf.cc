// Regular expressions of JSON Schema "pattern" (the ECMAScript subset that describes a language:
// literals, classes, groups, alternation, quantifiers) as GBNF over the JSON-escaped string
// contents. The pattern must match the whole string; ^ and $ at the ends are accepted and mean
// just that. Backreferences, lookaround, word boundaries and possessive quantifiers are refused.
#include <cctype>
#include <vector>

#include "grammar/gbnf.h"
#include "grammar/grammar.h"
#include "grammar/json_schema.h"
#include "qwenvl/error.h"

namespace qwenvl::grammar {

namespace {

constexpr int kMaxRegexDepth = 64;
constexpr size_t kMaxPattern = 64 << 10;

// How code point `cp` is written inside a JSON string.
std::string JsonEscaped(uint32_t cp) {
  switch (cp) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    case '\b':
      return "\\b";
    case '\f':
      return "\\f";
    default:
      break;
  }
  std::string out;
  if (cp < 0x20) {
    static const char* kHex = "0123456789abcdef";
    out = "\\u00";
    out += kHex[cp >> 4];
    out += kHex[cp & 15];
    return out;
  }
  AppendUtf8(cp, &out);
  return out;
}

bool NeedsEscape(uint32_t cp) { return cp < 0x20 || cp == '"' || cp == '\\'; }

class RegexParser {
 public:
  explicit RegexParser(std::string_view p) : p_(p) {}

  std::string Parse() {
    if (p_.size() > kMaxPattern) Fail("longer than 64 KiB");
    if (!p_.empty() && p_.front() == '^') ++pos_;
    std::string out = Alternation(0);
    if (pos_ != p_.size()) Fail("unexpected ')'");
    return out;
  }

 private:
  [[noreturn]] void Fail(const std::string& what) const {
    throw Error(ErrorCode::kInvalidArgument,
                "json schema: pattern at offset " + std::to_string(pos_) + ": " + what);
  }
  bool AtEnd() const { return pos_ >= p_.size(); }

  std::string Alternation(int depth) {
    if (depth > kMaxRegexDepth) Fail("groups nested too deep");
    std::string out = "(" + Sequence(depth);
    while (!AtEnd() && p_[pos_] == '|') {
      ++pos_;
      out += " | " + Sequence(depth);
    }
    return out + ")";
  }

  std::string Sequence(int depth) {
    std::string out;
    while (!AtEnd() && p_[pos_] != '|' && p_[pos_] != ')') {
      if (p_[pos_] == '$' && pos_ + 1 == p_.size()) {
        ++pos_;
        break;
      }
      std::string atom = Atom(depth);
      out += " " + Quantified(std::move(atom));
    }
    return out.empty() ? "\"\"" : out;
  }

  std::string Quantified(std::string atom) {
    if (AtEnd()) return atom;
    std::string q;
    const char c = p_[pos_];
    if (c == '*' || c == '+' || c == '?') {
      q = c;
      ++pos_;
    } else if (c == '{' && pos_ + 1 < p_.size() &&
               std::isdigit(static_cast<unsigned char>(p_[pos_ + 1]))) {
      const size_t close = p_.find('}', pos_);
      if (close == std::string_view::npos) Fail("unterminated {m,n}");
      q = std::string(p_.substr(pos_, close - pos_ + 1));
      for (char d : q)
        if (!std::isdigit(static_cast<unsigned char>(d)) && d != '{' && d != '}' && d != ',')
          Fail("malformed {m,n}");
      pos_ = close + 1;
    } else {
      return atom;
    }
    if (!AtEnd() && p_[pos_] == '?') ++pos_;  // lazy: the language is the same
    if (!AtEnd() && p_[pos_] == '+') Fail("possessive quantifiers are not supported");
    return "(" + atom + ")" + q;
  }

  uint32_t Utf8Char() {
    const unsigned char c = static_cast<unsigned char>(p_[pos_]);
    const int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || pos_ + n > p_.size()) Fail("invalid UTF-8");
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (int i = 1; i < n; ++i) cp = (cp << 6) | (static_cast<unsigned char>(p_[pos_ + i]) & 0x3F);
    pos_ += n;
    return cp;
  }

  uint32_t Hex(int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      if (AtEnd() || !std::isxdigit(static_cast<unsigned char>(p_[pos_])))
        Fail("expected hex digits");
      const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(p_[pos_++])));
      v = v * 16 + static_cast<uint32_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    return v;
  }

  // A class escape (\d \w \s and their negations) as ranges; false if `e` is not one.
  static bool ClassEscape(char e, std::vector<CodeRange>* ranges, bool* negated) {
    *negated = std::isupper(static_cast<unsigned char>(e)) != 0;
    switch (std::tolower(static_cast<unsigned char>(e))) {
      case 'd':
        *ranges = {{'0', '9'}};
        return true;
      case 'w':
        *ranges = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
        return true;
      case 's':
        *ranges = {{'\t', '\r'}, {' ', ' '}, {0xA0, 0xA0}, {0x2028, 0x2029}, {0xFEFF, 0xFEFF}};
        return true;
      default:
        return false;
    }
  }

  // One escaped character after '\' (not a class escape).
  uint32_t EscapedChar() {
    if (AtEnd()) Fail("pattern ends with '\\'");
    const char e = p_[pos_++];
    switch (e) {
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
      case 'f':
        return '\f';
      case 'v':
        return '\v';
      case '0':
        return 0;
      case 'x':
        return Hex(2);
      case 'u':
        return Hex(4);
      case 'b':
      case 'B':
        Fail("word boundaries are not supported");
      default:
        break;
    }
    if (std::isdigit(static_cast<unsigned char>(e))) Fail("backreferences are not supported");
    if (std::isalnum(static_cast<unsigned char>(e)))
      Fail(std::string("unknown escape '\\") + e + "'");
    return static_cast<unsigned char>(e);
  }

  // GBNF for one character of a class, as it appears escaped in JSON text.
  static std::string ClassGbnf(const std::vector<CodeRange>& ranges, bool negated) {
    std::vector<std::string> alts;
    if (!negated) {
      std::string cls;
      for (auto [lo, hi] : ranges) {
        for (uint32_t cp = lo; cp <= hi && cp < 0x80; ++cp)
          if (NeedsEscape(cp)) alts.push_back(GbnfLiteral(JsonEscaped(cp)));
        // The part of [lo, hi] that needs no escape, in at most three pieces.
        const CodeRange pieces[] = {{std::max(lo, 0x20u), std::min(hi, 0x21u)},
                                    {std::max(lo, 0x23u), std::min(hi, 0x5Bu)},
                                    {std::max(lo, 0x5Du), hi}};
        for (auto [a, b] : pieces)
          if (a <= b) cls += GbnfClassChar(a) + (a == b ? "" : "-" + GbnfClassChar(b));
      }
      if (!cls.empty()) alts.push_back("[" + cls + "]");
    } else {
      std::string cls = "[^";
      bool quote = true, backslash = true;
      for (auto [lo, hi] : ranges) {
        cls += GbnfClassChar(lo) + (lo == hi ? "" : "-" + GbnfClassChar(hi));
        if (lo <= '"' && '"' <= hi) quote = false;
        if (lo <= '\\' && '\\' <= hi) backslash = false;
      }
      alts.push_back(cls + "\"\\\\\\x00-\\x1F]");
      if (quote) alts.push_back(GbnfLiteral(JsonEscaped('"')));
      if (backslash) alts.push_back(GbnfLiteral(JsonEscaped('\\')));
    }
    if (alts.empty()) return "[^\\x00-\\U0010FFFF]";  // matches nothing; refused later if used
    std::string out = "(";
    for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
    return out + ")";
  }

  std::string Atom(int depth) {
    const char c = p_[pos_];
    if (c == '(') {
      ++pos_;
      if (p_.substr(pos_, 2) == "?:") {
        pos_ += 2;
      } else if (!AtEnd() && p_[pos_] == '?') {
        Fail("lookaround and named groups are not supported");
      }
      std::string inner = Alternation(depth + 1);
      if (AtEnd() || p_[pos_] != ')') Fail("missing ')'");
      ++pos_;
      return inner;
    }
    if (c == '[') return Class();
    if (c == '.') {
      ++pos_;
      return ClassGbnf({{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}}, true);
    }
    if (c == '*' || c == '+' || c == '?' || c == '{') Fail("nothing to repeat");
    if (c == '^' || c == '$') Fail("'^' and '$' are supported only at the ends of the pattern");
    if (c == '\\') {
      ++pos_;
      std::vector<CodeRange> ranges;
      bool negated = false;
      if (!AtEnd() && ClassEscape(p_[pos_], &ranges, &negated)) {
        ++pos_;
        return ClassGbnf(ranges, negated);
      }
      return GbnfLiteral(JsonEscaped(EscapedChar()));
    }
    return GbnfLiteral(JsonEscaped(Utf8Char()));
  }

  std::string Class() {
    ++pos_;  // '['
    bool negated = false;
    if (!AtEnd() && p_[pos_] == '^') {
      negated = true;
      ++pos_;
    }
    std::vector<CodeRange> ranges;
    bool first = true;
    while (!AtEnd() && (p_[pos_] != ']' || first)) {
      first = false;
      uint32_t lo;
      if (p_[pos_] == '\\') {
        ++pos_;
        std::vector<CodeRange> sub;
        bool sub_negated = false;
        if (!AtEnd() && ClassEscape(p_[pos_], &sub, &sub_negated)) {
          if (sub_negated) Fail("negated class escapes inside [] are not supported");
          ++pos_;
          ranges.insert(ranges.end(), sub.begin(), sub.end());
          continue;
        }
        lo = EscapedChar();
      } else {
        lo = Utf8Char();
      }
      uint32_t hi = lo;
      if (pos_ + 1 < p_.size() && p_[pos_] == '-' && p_[pos_ + 1] != ']') {
        ++pos_;
        hi = p_[pos_] == '\\' ? (++pos_, EscapedChar()) : Utf8Char();
        if (hi < lo) Fail("class range out of order");
      }
      ranges.push_back({lo, hi});
    }
    if (AtEnd()) Fail("missing ']'");
    ++pos_;
    return ClassGbnf(ranges, negated);
  }

  std::string_view p_;
  size_t pos_ = 0;
};

}  // namespace

std::string RegexToGbnf(std::string_view pattern) { return RegexParser(pattern).Parse(); }

}  // namespace qwenvl::grammar
