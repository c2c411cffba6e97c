// Python methods that chat templates call on values: str (strip, startswith, split, replace, ...),
// dict (items, keys, values, get) and list (index, count). Mutating methods are absent, as in the
// immutable sandbox transformers renders with.
#include "text/jinja_error.h"
#include "text/jinja_eval.h"
#include "text/jinja_unicode.h"

namespace qwenvl::text::jinja {
namespace {

using Method = Value (*)(const Value& self, const CallArgs& args, Budget& budget);

const Value kNone{nullptr};

std::string StrArg(const CallArgs& args, size_t i, const char* key) {
  Value v = Arg(args, i, key, kNone);
  if (!v.IsString())
    ThrowType(args.line, std::string("argument '") + key + "' must be str, not " + v.TypeName());
  return v.AsString();
}

// An optional str argument: false when absent or None.
bool OptStrArg(const CallArgs& args, size_t i, const char* key, std::string* out) {
  Value v = Arg(args, i, key, kNone);
  if (v.IsNone()) return false;
  *out = StrArg(args, i, key);
  return true;
}

int64_t IntArg(const CallArgs& args, size_t i, const char* key, int64_t fallback) {
  Value v = Arg(args, i, key, kNone);
  if (v.IsNone()) return fallback;
  if (!v.IsInt())
    ThrowType(args.line, std::string("argument '") + key + "' must be int, not " + v.TypeName());
  return v.AsInt();
}

Value StringList(const std::vector<std::string>& parts) {
  std::vector<Value> items(parts.begin(), parts.end());
  return Value::MakeList(std::move(items));
}

Value StrStrip(const Value& self, const CallArgs& a, Budget&) {
  std::string chars;
  bool has = OptStrArg(a, 0, "chars", &chars);
  return Value(Strip(self.AsString(), has ? &chars : nullptr, true, true));
}
Value StrLstrip(const Value& self, const CallArgs& a, Budget&) {
  std::string chars;
  bool has = OptStrArg(a, 0, "chars", &chars);
  return Value(Strip(self.AsString(), has ? &chars : nullptr, true, false));
}
Value StrRstrip(const Value& self, const CallArgs& a, Budget&) {
  std::string chars;
  bool has = OptStrArg(a, 0, "chars", &chars);
  return Value(Strip(self.AsString(), has ? &chars : nullptr, false, true));
}

// startswith/endswith accept one prefix or a tuple of them.
Value Affix(const Value& self, const CallArgs& a, bool suffix) {
  Value arg = Arg(a, 0, "prefix", kNone);
  std::vector<Value> options = arg.IsList() ? arg.AsList()->items : std::vector<Value>{arg};
  const std::string& s = self.AsString();
  for (const Value& o : options) {
    if (!o.IsString())
      ThrowType(a.line, "startswith/endswith first arg must be str or a tuple of str");
    const std::string& p = o.AsString();
    if (p.size() <= s.size() && s.compare(suffix ? s.size() - p.size() : 0, p.size(), p) == 0) {
      return Value(true);
    }
  }
  return Value(false);
}
Value StrStartswith(const Value& self, const CallArgs& a, Budget&) { return Affix(self, a, false); }
Value StrEndswith(const Value& self, const CallArgs& a, Budget&) { return Affix(self, a, true); }

Value StrSplit(const Value& self, const CallArgs& a, Budget& budget) {
  std::string sep_text;
  const std::string* sep = OptStrArg(a, 0, "sep", &sep_text) ? &sep_text : nullptr;
  if (sep != nullptr && sep->empty())
    ThrowAt(ErrorCode::kInvalidArgument, a.line, "ValueError: empty separator");
  std::vector<std::string> parts = Split(self.AsString(), sep, IntArg(a, 1, "maxsplit", -1));
  budget.CheckItems(parts.size(), a.line);
  return StringList(parts);
}

Value StrSplitlines(const Value& self, const CallArgs& a, Budget& budget) {
  std::vector<std::string> parts;
  const std::string& s = self.AsString();
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' || s[i] == '\r') {
      parts.push_back(s.substr(start, i - start));
      if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  if (start < s.size()) parts.push_back(s.substr(start));
  budget.CheckItems(parts.size(), a.line);
  return StringList(parts);
}

Value StrLower(const Value& self, const CallArgs&, Budget&) {
  return Value(ToLower(self.AsString()));
}
Value StrUpper(const Value& self, const CallArgs&, Budget&) {
  return Value(ToUpper(self.AsString()));
}
Value StrTitle(const Value& self, const CallArgs&, Budget&) {
  return Value(ToTitle(self.AsString()));
}
Value StrCapitalize(const Value& self, const CallArgs&, Budget&) {
  return Value(Capitalize(self.AsString()));
}

Value StrReplace(const Value& self, const CallArgs& a, Budget& budget) {
  const std::string& s = self.AsString();
  const std::string from = StrArg(a, 0, "old");
  const std::string to = StrArg(a, 1, "new");
  int64_t count = IntArg(a, 2, "count", -1);
  std::string out;
  size_t pos = 0;
  for (int64_t done = 0; count < 0 || done < count; ++done) {
    size_t found = from.empty() ? (pos <= s.size() ? pos : std::string::npos) : s.find(from, pos);
    if (found == std::string::npos) break;
    out.append(s, pos, found - pos);
    out += to;
    budget.CheckString(out.size(), a.line);
    if (from.empty()) {  // "" matches between every character
      if (found < s.size()) out += s[found];
      pos = found + 1;
    } else {
      pos = found + from.size();
    }
  }
  if (pos < s.size()) out.append(s, pos);
  budget.CheckString(out.size(), a.line);
  return Value(std::move(out));
}

Value StrFind(const Value& self, const CallArgs& a, Budget&) {
  size_t found = self.AsString().find(StrArg(a, 0, "sub"));
  if (found == std::string::npos) return Value(-1);
  return Value(static_cast<int64_t>(CodepointCount(self.AsString().substr(0, found))));
}

Value StrCount(const Value& self, const CallArgs& a, Budget&) {
  const std::string& s = self.AsString();
  const std::string sub = StrArg(a, 0, "sub");
  if (sub.empty()) return Value(static_cast<int64_t>(CodepointCount(s) + 1));
  int64_t n = 0;
  for (size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + sub.size())) ++n;
  return Value(n);
}

Value StrJoin(const Value& self, const CallArgs& a, Budget& budget) {
  std::string out;
  bool first = true;
  for (const Value& item : Iterate(Arg(a, 0, "iterable", kNone), a.line)) {
    if (!item.IsString())
      ThrowType(a.line,
                std::string("sequence item: expected str instance, ") + item.TypeName() + " found");
    if (!first) out += self.AsString();
    first = false;
    out += item.AsString();
    budget.CheckString(out.size(), a.line);
  }
  return Value(std::move(out));
}

Value StrRemoveAffix(const Value& self, const CallArgs& a, bool suffix) {
  const std::string& s = self.AsString();
  const std::string p = StrArg(a, 0, suffix ? "suffix" : "prefix");
  if (p.size() > s.size() || s.compare(suffix ? s.size() - p.size() : 0, p.size(), p) != 0)
    return self;
  return Value(suffix ? s.substr(0, s.size() - p.size()) : s.substr(p.size()));
}
Value StrRemoveprefix(const Value& self, const CallArgs& a, Budget&) {
  return StrRemoveAffix(self, a, false);
}
Value StrRemovesuffix(const Value& self, const CallArgs& a, Budget&) {
  return StrRemoveAffix(self, a, true);
}

template <bool (*Pred)(unsigned char)>
Value StrIs(const Value& self, const CallArgs&, Budget&) {
  const std::string& s = self.AsString();
  if (s.empty()) return Value(false);
  for (unsigned char c : s) {
    if (!Pred(c)) return Value(false);
  }
  return Value(true);
}
bool AsciiDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool AsciiSpace(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
bool AsciiAlpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
bool AsciiAlnum(unsigned char c) { return AsciiDigit(c) || AsciiAlpha(c); }

Value DictItems(const Value& self, const CallArgs& a, Budget&) {
  std::vector<Value> items;
  for (const auto& [k, v] : self.AsDict()->entries)
    items.push_back(Value::MakeList({Value(k), v}, true));
  return Value::MakeList(std::move(items));
}
Value DictKeys(const Value& self, const CallArgs& a, Budget&) {
  return Value::MakeList(Iterate(self, a.line));
}
Value DictValues(const Value& self, const CallArgs&, Budget&) {
  std::vector<Value> items;
  for (const auto& [k, v] : self.AsDict()->entries) items.push_back(v);
  return Value::MakeList(std::move(items));
}
Value DictGet(const Value& self, const CallArgs& a, Budget&) {
  Value key = Arg(a, 0, "key", kNone);
  const Value* found = key.IsString() ? self.AsDict()->Find(key.AsString()) : nullptr;
  return found != nullptr ? *found : Arg(a, 1, "default", kNone);
}

Value ListIndex(const Value& self, const CallArgs& a, Budget&) {
  const auto& items = self.AsList()->items;
  for (size_t i = 0; i < items.size(); ++i) {
    if (Equal(items[i], Arg(a, 0, "value", kNone))) return Value(static_cast<int64_t>(i));
  }
  ThrowAt(ErrorCode::kInvalidArgument, a.line, "ValueError: value is not in list");
}
Value ListCount(const Value& self, const CallArgs& a, Budget&) {
  int64_t n = 0;
  for (const Value& item : self.AsList()->items)
    n += Equal(item, Arg(a, 0, "value", kNone)) ? 1 : 0;
  return Value(n);
}

struct MethodEntry {
  Value::Type type;
  const char* name;
  Method fn;
};

constexpr MethodEntry kMethods[] = {
    {Value::Type::kString, "strip", StrStrip},
    {Value::Type::kString, "lstrip", StrLstrip},
    {Value::Type::kString, "rstrip", StrRstrip},
    {Value::Type::kString, "startswith", StrStartswith},
    {Value::Type::kString, "endswith", StrEndswith},
    {Value::Type::kString, "split", StrSplit},
    {Value::Type::kString, "splitlines", StrSplitlines},
    {Value::Type::kString, "lower", StrLower},
    {Value::Type::kString, "upper", StrUpper},
    {Value::Type::kString, "title", StrTitle},
    {Value::Type::kString, "capitalize", StrCapitalize},
    {Value::Type::kString, "replace", StrReplace},
    {Value::Type::kString, "find", StrFind},
    {Value::Type::kString, "count", StrCount},
    {Value::Type::kString, "join", StrJoin},
    {Value::Type::kString, "removeprefix", StrRemoveprefix},
    {Value::Type::kString, "removesuffix", StrRemovesuffix},
    {Value::Type::kString, "isdigit", StrIs<AsciiDigit>},
    {Value::Type::kString, "isspace", StrIs<AsciiSpace>},
    {Value::Type::kString, "isalpha", StrIs<AsciiAlpha>},
    {Value::Type::kString, "isalnum", StrIs<AsciiAlnum>},
    {Value::Type::kDict, "items", DictItems},
    {Value::Type::kDict, "keys", DictKeys},
    {Value::Type::kDict, "values", DictValues},
    {Value::Type::kDict, "get", DictGet},
    {Value::Type::kList, "index", ListIndex},
    {Value::Type::kList, "count", ListCount},
};

}  // namespace

Value BoundMethod(const Value& obj, const std::string& name, Budget& budget) {
  for (const MethodEntry& m : kMethods) {
    if (m.type != obj.type() || name != m.name) continue;
    Method fn = m.fn;
    Budget* b = &budget;
    return Value::MakeFunction([obj, fn, b](const CallArgs& args) { return fn(obj, args, *b); });
  }
  return Value::MakeUndefined(name);
}

}  // namespace qwenvl::text::jinja
