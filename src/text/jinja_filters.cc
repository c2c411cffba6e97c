// Jinja filters on strings and numbers, tojson (transformers' version) and the filter dispatcher.
// Sequence filters live in jinja_filters_seq.cc.
#include <cmath>
#include <cstdlib>

#include "text/jinja_error.h"
#include "text/jinja_eval.h"
#include "text/jinja_filters_impl.h"
#include "text/jinja_tojson.h"
#include "text/jinja_unicode.h"

namespace qwenvl::text::jinja {
namespace {

const Value kNone{nullptr};

std::string Text(const Value& v, Budget& budget) { return ToStr(v, budget.max_string()); }

Value Trim(const Value& in, const CallArgs& a, Budget& b) {
  Value chars = Arg(a, 0, "chars", kNone);
  return Value(Strip(Text(in, b), chars.IsString() ? &chars.AsString() : nullptr, true, true));
}
Value Upper(const Value& in, const CallArgs&, Budget& b) { return Value(ToUpper(Text(in, b))); }
Value Lower(const Value& in, const CallArgs&, Budget& b) { return Value(ToLower(Text(in, b))); }
Value Title(const Value& in, const CallArgs&, Budget& b) { return Value(ToTitle(Text(in, b))); }
Value Cap(const Value& in, const CallArgs&, Budget& b) { return Value(Capitalize(Text(in, b))); }
Value String(const Value& in, const CallArgs&, Budget& b) { return Value(Text(in, b)); }
Value Safe(const Value& in, const CallArgs&, Budget&) { return in; }

Value Replace(const Value& in, const CallArgs& a, Budget& b) {
  Value self(Text(in, b));
  CallArgs args = a;
  for (Value& v : args.positional) {
    if (!v.IsString() && !v.IsInt()) v = Value(Text(v, b));
  }
  return GetAttr(self, "replace", a.line, b).AsFunction()(args);
}

Value Escape(const Value& in, const CallArgs&, Budget& b) {
  std::string out;
  for (char c : Text(in, b)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  b.CheckString(out.size(), 0);
  return Value(std::move(out));
}

// Jinja's indent: every line but the first (unless first=true) gets the prefix; blank lines only
// when blank=true.
Value Indent(const Value& in, const CallArgs& a, Budget& b) {
  Value width = Arg(a, 0, "width", Value(4));
  std::string prefix =
      width.IsString()
          ? width.AsString()
          : std::string(width.IsInt() ? std::clamp<int64_t>(width.AsInt(), 0, 1024) : 4, ' ');
  bool first = Truthy(Arg(a, 1, "first", Value(false)));
  bool blank = Truthy(Arg(a, 2, "blank", Value(false)));
  Value lines_v =
      GetAttr(Value(Text(in, b) + "\n"), "splitlines", a.line, b).AsFunction()(ArgsAt(a.line));
  const auto& lines = lines_v.AsList()->items;
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i].AsString();
    if (i > 0) out += '\n';
    if (i > 0 && (blank || !line.empty())) out += prefix;
    out += line;
    b.CheckString(out.size(), a.line);
  }
  if (first) out = prefix + out;
  return Value(std::move(out));
}

Value WordCount(const Value& in, const CallArgs&, Budget& b) {
  int64_t words = 0;
  bool in_word = false;
  for (unsigned char c : Text(in, b)) {
    bool word_char = std::isalnum(c) || c == '_' || c >= 0x80;
    if (word_char && !in_word) ++words;
    in_word = word_char;
  }
  return Value(words);
}

Value Int(const Value& in, const CallArgs& a, Budget&) {
  Value fallback = Arg(a, 0, "default", Value(0));
  if (in.IsBool()) return Value(static_cast<int64_t>(in.AsBool()));
  if (in.IsInt()) return in;
  if (in.IsFloat()) {
    double d = in.AsFloat();
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return fallback;
    return Value(static_cast<int64_t>(d));
  }
  if (!in.IsString()) return fallback;
  Value base_v = Arg(a, 1, "base", Value(10));
  int base = base_v.IsInt() && base_v.AsInt() >= 2 && base_v.AsInt() <= 36
                 ? static_cast<int>(base_v.AsInt())
                 : 10;
  std::string s = Strip(in.AsString(), nullptr, true, true);
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, base);
  if (!s.empty() && errno == 0 && *end == 0) return Value(static_cast<int64_t>(v));
  double d = std::strtod(s.c_str(), &end);  // Jinja falls back to int(float(value))
  if (!s.empty() && *end == 0 && std::isfinite(d) && std::fabs(d) < 9.2e18) {
    return Value(static_cast<int64_t>(d));
  }
  return fallback;
}

Value Float(const Value& in, const CallArgs& a, Budget&) {
  Value fallback = Arg(a, 0, "default", Value(0.0));
  if (in.IsNumber()) return Value(in.ToDouble());
  if (!in.IsString()) return fallback;
  std::string s = Strip(in.AsString(), nullptr, true, true);
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  return (!s.empty() && *end == 0) ? Value(d) : fallback;
}

Value Abs(const Value& in, const CallArgs& a, Budget&) {
  if (in.IsFloat()) return Value(std::fabs(in.AsFloat()));
  if (in.IsInt() || in.IsBool()) {
    int64_t v = in.IsBool() ? in.AsBool() : in.AsInt();
    return v < 0 ? Negate(Value(v), a.line) : Value(v);
  }
  ThrowType(a.line, std::string("bad operand type for abs(): '") + in.TypeName() + "'");
}

Value Round(const Value& in, const CallArgs& a, Budget&) {
  if (!in.IsNumber()) ThrowType(a.line, std::string("round() of '") + in.TypeName() + "'");
  Value prec_v = Arg(a, 0, "precision", Value(0));
  int64_t precision = prec_v.IsInt() ? std::clamp<int64_t>(prec_v.AsInt(), -300, 300) : 0;
  Value method = Arg(a, 1, "method", Value("common"));
  double scale = std::pow(10.0, static_cast<double>(precision));
  double v = in.ToDouble() * scale;
  std::string m = method.IsString() ? method.AsString() : "common";
  if (m == "common") {
    v = std::nearbyint(v);  // Python's round(): halves go to even
  } else if (m == "ceil") {
    v = std::ceil(v);
  } else if (m == "floor") {
    v = std::floor(v);
  } else {
    ThrowAt(ErrorCode::kInvalidArgument, a.line, "round method must be common, ceil or floor");
  }
  return Value(v / scale);
}

Value Default(const Value& in, const CallArgs& a, Budget&) {
  bool boolean = Truthy(Arg(a, 1, "boolean", Value(false)));
  if (in.IsUndefined() || (boolean && !Truthy(in))) return Arg(a, 0, "default_value", Value(""));
  return in;
}

// transformers: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
Value ToJsonFilter(const Value& in, const CallArgs& a, Budget& b) {
  JsonStyle style;
  style.max_bytes = b.max_string();
  style.ensure_ascii = Truthy(Arg(a, 0, "ensure_ascii", Value(false)));
  Value indent = Arg(a, 1, "indent", kNone);
  if (!indent.IsNone()) {
    style.indent = true;
    style.item_separator = ",";
    if (indent.IsString()) {
      style.indent_unit = indent.AsString();
    } else if (indent.IsInt() || indent.IsBool()) {
      int64_t n = indent.IsBool() ? indent.AsBool() : indent.AsInt();
      style.indent_unit.assign(static_cast<size_t>(std::clamp<int64_t>(n, 0, 1024)), ' ');
    } else {
      ThrowType(a.line, std::string("tojson indent must be int or str, not ") + indent.TypeName());
    }
  }
  Value seps = Arg(a, 2, "separators", kNone);
  if (!seps.IsNone()) {
    if (!seps.IsList() || seps.AsList()->items.size() != 2 || !seps.AsList()->items[0].IsString() ||
        !seps.AsList()->items[1].IsString()) {
      ThrowType(a.line, "tojson separators must be a pair of strings");
    }
    style.item_separator = seps.AsList()->items[0].AsString();
    style.key_separator = seps.AsList()->items[1].AsString();
  }
  style.sort_keys = Truthy(Arg(a, 3, "sort_keys", Value(false)));
  return Value(ToJson(in, style, a.line));
}

Value Attr(const Value& in, const CallArgs& a, Budget& b) {
  Value name = Arg(a, 0, "name", kNone);
  if (!name.IsString()) ThrowType(a.line, "attr() name must be a string");
  return GetAttr(in, name.AsString(), a.line, b);
}

constexpr FilterEntry kFilters[] = {
    {"trim", Trim},
    {"upper", Upper},
    {"lower", Lower},
    {"title", Title},
    {"capitalize", Cap},
    {"string", String},
    {"safe", Safe},
    {"replace", Replace},
    {"escape", Escape},
    {"e", Escape},
    {"indent", Indent},
    {"wordcount", WordCount},
    {"int", Int},
    {"float", Float},
    {"abs", Abs},
    {"round", Round},
    {"default", Default},
    {"d", Default},
    {"tojson", ToJsonFilter},
    {"attr", Attr},
};

}  // namespace

Value ApplyFilter(const std::string& name, const Value& input, const CallArgs& args,
                  Budget& budget) {
  budget.Step(args.line);
  for (const FilterEntry& f : kFilters) {
    if (name == f.name) return f.fn(input, args, budget);
  }
  if (const FilterEntry* f = FindSequenceFilter(name)) return f->fn(input, args, budget);
  ThrowUnsupported(args.line, "filter '" + name + "'");
}

}  // namespace qwenvl::text::jinja
