#include "grammar/gbnf.h"

#include <cctype>

#include "qwenvl/error.h"

namespace qwenvl::grammar {

namespace {
constexpr int kMaxNesting = 64;
}  // namespace

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string GbnfLiteral(std::string_view bytes) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out = "\"";
  for (unsigned char c : bytes) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7F) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string GbnfClassChar(uint32_t cp) {
  static const char* kHex = "0123456789ABCDEF";
  if (cp >= 0x20 && cp < 0x7F && cp != ']' && cp != '\\' && cp != '^' && cp != '-' && cp != '[')
    return std::string(1, static_cast<char>(cp));
  std::string out = cp < 0x100 ? "\\x" : cp < 0x10000 ? "\\u" : "\\U";
  const int digits = cp < 0x100 ? 2 : cp < 0x10000 ? 4 : 8;
  for (int i = digits - 1; i >= 0; --i) out += kHex[(cp >> (4 * i)) & 15];
  return out;
}

namespace {

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Grammar Parse(const std::string& root) {
    if (text_.size() > kMaxGrammarText)
      throw Error(ErrorCode::kInvalidArgument,
                  "grammar: longer than " + std::to_string(kMaxGrammarText) + " bytes");
    SkipSpace();
    if (pos_ == text_.size()) Fail("the grammar is empty");
    while (pos_ < text_.size()) {
      const std::string name = ParseName();
      SkipSpace();
      if (text_.substr(pos_, 3) != "::=") Fail("expected '::=' after the rule name '" + name + "'");
      pos_ += 3;
      const int32_t rule = builder_.RuleId(name);
      if (defined_.size() <= static_cast<size_t>(rule)) defined_.resize(rule + 1, false);
      if (defined_[rule]) Fail("rule '" + name + "' is defined twice");
      defined_[rule] = true;
      ParseAlternatives(rule, 0);
      SkipSpace();
    }
    return builder_.Finish(root);
  }

 private:
  [[noreturn]] void Fail(const std::string& what) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw Error(ErrorCode::kInvalidArgument, "grammar: line " + std::to_string(line) + ", column " +
                                                 std::to_string(col) + ": " + what);
  }

  void SkipSpace() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos_;
      } else {
        break;
      }
    }
  }

  std::string ParseName() {
    const size_t start = pos_;
    while (pos_ < text_.size() && IsNameChar(text_[pos_])) ++pos_;
    if (pos_ == start) Fail("expected a rule name");
    return std::string(text_.substr(start, pos_ - start));
  }

  // At a name followed by '::=': the next rule starts here.
  bool AtRuleStart() const {
    size_t p = pos_;
    while (p < text_.size() && IsNameChar(text_[p])) ++p;
    if (p == pos_) return false;
    while (p < text_.size() &&
           (text_[p] == ' ' || text_[p] == '\t' || text_[p] == '\n' || text_[p] == '\r'))
      ++p;
    return text_.substr(p, 3) == "::=";
  }

  uint32_t ParseHex(int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      if (pos_ >= text_.size() || !std::isxdigit(static_cast<unsigned char>(text_[pos_])))
        Fail("expected " + std::to_string(digits) + " hex digits");
      const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(text_[pos_++])));
      v = v * 16 + static_cast<uint32_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    if (v > 0x10FFFF) Fail("code point beyond U+10FFFF");
    return v;
  }

  // One character of a literal or class, escapes decoded; the text is UTF-8.
  uint32_t ParseChar() {
    if (pos_ >= text_.size()) Fail("unexpected end of the grammar");
    const unsigned char c = static_cast<unsigned char>(text_[pos_]);
    if (c == '\\') {
      ++pos_;
      if (pos_ >= text_.size()) Fail("unexpected end after '\\'");
      const char e = text_[pos_++];
      switch (e) {
        case 'n':
          return '\n';
        case 'r':
          return '\r';
        case 't':
          return '\t';
        case '0':
          return 0;
        case '\\':
        case '"':
        case '\'':
        case ']':
        case '[':
        case '-':
        case '/':
        case '^':
          return static_cast<uint8_t>(e);
        case 'x':
          return ParseHex(2);
        case 'u':
          return ParseHex(4);
        case 'U':
          return ParseHex(8);
        default:
          --pos_;
          Fail(std::string("unknown escape '\\") + e + "'");
      }
    }
    // UTF-8 decode (the grammar text is UTF-8; a bad sequence is refused).
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || pos_ + n > text_.size()) Fail("invalid UTF-8");
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (int i = 1; i < n; ++i) {
      const unsigned char d = static_cast<unsigned char>(text_[pos_ + i]);
      if ((d & 0xC0) != 0x80) Fail("invalid UTF-8");
      cp = (cp << 6) | (d & 0x3F);
    }
    pos_ += n;
    return cp;
  }

  void ParseAlternatives(int32_t rule, int depth) {
    if (depth > kMaxNesting) Fail("groups nested deeper than " + std::to_string(kMaxNesting));
    for (;;) {
      GrammarBuilder::Sequence seq;
      ParseSequence(&seq, depth);
      builder_.AddAlternative(rule, seq);
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == '|') {
        ++pos_;
        continue;
      }
      return;
    }
  }

  void ParseSequence(GrammarBuilder::Sequence* seq, int depth) {
    for (;;) {
      SkipSpace();
      if (pos_ >= text_.size()) return;
      const char c = text_[pos_];
      if (c == '|' || c == ')') return;
      if (depth == 0 && AtRuleStart()) return;
      GrammarBuilder::Sequence item;
      if (c == '"') {
        ++pos_;
        std::string bytes;
        while (pos_ < text_.size() && text_[pos_] != '"') AppendUtf8(ParseChar(), &bytes);
        if (pos_ >= text_.size()) Fail("unterminated literal");
        ++pos_;
        builder_.AppendLiteral(bytes, &item);
      } else if (c == '[') {
        ++pos_;
        bool negated = false;
        if (pos_ < text_.size() && text_[pos_] == '^') {
          negated = true;
          ++pos_;
        }
        std::vector<CodeRange> ranges;
        while (pos_ < text_.size() && text_[pos_] != ']') {
          const uint32_t lo = ParseChar();
          uint32_t hi = lo;
          if (pos_ + 1 < text_.size() && text_[pos_] == '-' && text_[pos_ + 1] != ']') {
            ++pos_;
            hi = ParseChar();
            if (hi < lo) Fail("character range out of order");
          }
          ranges.push_back({lo, hi});
        }
        if (pos_ >= text_.size()) Fail("unterminated character class");
        ++pos_;
        if (ranges.empty() && !negated) Fail("empty character class");
        builder_.AppendClass(std::move(ranges), negated, &item);
      } else if (c == '.') {
        ++pos_;
        builder_.AppendClass({}, /*negated=*/true, &item);
      } else if (c == '(') {
        ++pos_;
        const int32_t group = builder_.NewHelperRule("group");
        ParseAlternatives(group, depth + 1);
        SkipSpace();
        if (pos_ >= text_.size() || text_[pos_] != ')') Fail("expected ')'");
        ++pos_;
        builder_.AppendRule(group, &item);
      } else if (IsNameChar(c)) {
        builder_.AppendRule(builder_.RuleId(ParseName()), &item);
      } else if (c == '<') {
        Fail("token references (<[id]>, <token>) are not supported: write the token's text");
      } else {
        Fail(std::string("unexpected character '") + c + "'");
      }
      ParsePostfix(&item);
      seq->insert(seq->end(), item.begin(), item.end());
    }
  }

  int64_t ParseInt() {
    const size_t start = pos_;
    int64_t v = 0;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      v = v * 10 + (text_[pos_++] - '0');
      if (v > kMaxRepeat) Fail("repetition count above " + std::to_string(kMaxRepeat));
    }
    if (pos_ == start) Fail("expected a number");
    return v;
  }

  void ParsePostfix(GrammarBuilder::Sequence* item) {
    for (;;) {
      // A postfix operator binds to the item just before it, with no space between.
      if (pos_ >= text_.size()) return;
      const char c = text_[pos_];
      int64_t min = 0, max = -1;
      if (c == '*') {
        ++pos_;
      } else if (c == '+') {
        ++pos_;
        min = 1;
      } else if (c == '?') {
        ++pos_;
        max = 1;
      } else if (c == '{') {
        ++pos_;
        SkipSpace();
        min = ParseInt();
        SkipSpace();
        max = min;
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
          SkipSpace();
          max = (pos_ < text_.size() && text_[pos_] == '}') ? -1 : ParseInt();
          SkipSpace();
        }
        if (pos_ >= text_.size() || text_[pos_] != '}') Fail("expected '}'");
        ++pos_;
        if (max >= 0 && max < min) Fail("repetition {m,n} with n < m");
      } else {
        return;
      }
      Element single;
      if (item->size() == 1) {
        single = item->front();
      } else {
        const int32_t group = builder_.NewHelperRule("group");
        builder_.AddAlternative(group, *item);
        single = {Element::Kind::kRule, group};
      }
      item->clear();
      builder_.AppendRepeat(single, min, max, item);
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
  GrammarBuilder builder_;
  std::vector<bool> defined_;
};

}  // namespace

Grammar ParseGbnf(std::string_view text, const std::string& root) {
  return Parser(text).Parse(root);
}

}  // namespace qwenvl::grammar
