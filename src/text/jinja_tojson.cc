// Python json.dumps output, byte for byte: escapes, float repr, NaN/Infinity, separators, indent.
#include "text/jinja_tojson.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "text/jinja_error.h"
#include "text/jinja_eval.h"

namespace qwenvl::text::jinja {
namespace {

void AppendEscapedCodepoint(std::string& out, uint32_t cp) {
  char buf[16];
  if (cp >= 0x10000) {  // ensure_ascii writes astral code points as UTF-16 surrogate pairs
    cp -= 0x10000;
    std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
  } else {
    std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
  }
  out += buf;
}

// Decodes one UTF-8 sequence at s[i]; returns its length (1 for an invalid byte, with cp = byte).
size_t DecodeUtf8(const std::string& s, size_t i, uint32_t* cp) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || i + len > s.size()) {
    *cp = c;
    return 1;
  }
  uint32_t v = len == 1 ? c : c & (0x3F >> (len - 1));
  for (size_t k = 1; k < len; ++k) {
    auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      *cp = c;
      return 1;
    }
    v = (v << 6) | (b & 0x3F);
  }
  *cp = v;
  return len;
}

void AppendString(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          AppendEscapedCodepoint(out, static_cast<unsigned char>(c));
        } else if (ensure_ascii && static_cast<unsigned char>(c) >= 0x80) {
          uint32_t cp = 0;
          i += DecodeUtf8(s, i, &cp);
          AppendEscapedCodepoint(out, cp);
          continue;
        } else {
          out += c;
        }
    }
    ++i;
  }
  out += '"';
}

class JsonWriter {
 public:
  JsonWriter(const JsonStyle& style, int line) : style_(style), line_(line) {}

  void Write(const Value& v, int level, std::string& out) {
    if (out.size() > style_.max_bytes) {
      ThrowAt(ErrorCode::kOutOfRange, line_,
              "tojson output exceeds " + std::to_string(style_.max_bytes) + " bytes");
    }
    switch (v.type()) {
      case Value::Type::kNone:
        out += "null";
        return;
      case Value::Type::kBool:
        out += v.AsBool() ? "true" : "false";
        return;
      case Value::Type::kInt:
        out += std::to_string(v.AsInt());
        return;
      case Value::Type::kFloat: {
        double d = v.AsFloat();
        out += std::isnan(d)   ? "NaN"
               : std::isinf(d) ? (d < 0 ? "-Infinity" : "Infinity")
                               : FloatRepr(d);
        return;
      }
      case Value::Type::kString:
        AppendString(out, v.AsString(), style_.ensure_ascii);
        return;
      case Value::Type::kList:
        WriteList(*v.AsList(), level, out);
        return;
      case Value::Type::kDict:
        if (!v.AsDict()->is_namespace) {
          WriteDict(*v.AsDict(), level, out);
          return;
        }
        break;
      default:
        break;
    }
    ThrowType(line_, std::string("Object of type ") + v.TypeName() + " is not JSON serializable");
  }

 private:
  void Newline(int level, std::string& out) const {
    if (!style_.indent) return;
    out += '\n';
    for (int i = 0; i < level; ++i) out += style_.indent_unit;
  }

  void WriteList(const List& list, int level, std::string& out) {
    if (list.items.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    for (size_t i = 0; i < list.items.size(); ++i) {
      if (i > 0) out += style_.item_separator;
      Newline(level + 1, out);
      Write(list.items[i], level + 1, out);
    }
    Newline(level, out);
    out += ']';
  }

  void WriteDict(const Dict& dict, int level, std::string& out) {
    if (dict.entries.empty()) {
      out += "{}";
      return;
    }
    std::vector<const std::pair<std::string, Value>*> entries;
    for (const auto& e : dict.entries) entries.push_back(&e);
    if (style_.sort_keys) {
      std::stable_sort(entries.begin(), entries.end(),
                       [](const auto* a, const auto* b) { return a->first < b->first; });
    }
    out += '{';
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i > 0) out += style_.item_separator;
      Newline(level + 1, out);
      AppendString(out, entries[i]->first, style_.ensure_ascii);
      out += style_.key_separator;
      Write(entries[i]->second, level + 1, out);
    }
    Newline(level, out);
    out += '}';
  }

  const JsonStyle& style_;
  int line_;
};

}  // namespace

std::string ToJson(const Value& v, const JsonStyle& style, int line) {
  std::string out;
  JsonWriter(style, line).Write(v, 0, out);
  return out;
}

}  // namespace qwenvl::text::jinja
