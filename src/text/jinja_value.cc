// Python semantics of chat-template values: truthiness, equality, str() and repr().
#include "text/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "util/error.h"

namespace qwenvl::text::jinja {

const Value* Dict::Find(const std::string& key) const {
  for (const auto& [k, v] : entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

static void CheckDepth(int depth) {
  if (depth > kMaxValueDepth) {
    throw Error(ErrorCode::kOutOfRange, "chat template builds a value nested deeper than " +
                                            std::to_string(kMaxValueDepth));
  }
}

void Dict::Set(const std::string& key, Value value) {
  depth = std::max(depth, 1 + value.Depth());
  CheckDepth(depth);
  for (auto& [k, v] : entries) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries.emplace_back(key, std::move(value));
}

Value Value::MakeList(std::vector<Value> items, bool is_tuple) {
  auto list = std::make_shared<List>();
  list->items = std::move(items);
  list->is_tuple = is_tuple;
  for (const Value& v : list->items) list->depth = std::max(list->depth, 1 + v.Depth());
  CheckDepth(list->depth);
  return Value(std::move(list));
}

Value Value::MakeDict() { return Value(std::make_shared<Dict>()); }

Value Value::MakeFunction(Function f) {
  return Value(std::shared_ptr<const Function>(std::make_shared<const Function>(std::move(f))));
}

int Value::Depth() const {
  if (IsList()) return AsList()->depth;
  if (IsDict()) return AsDict()->depth;
  return 0;
}

double Value::ToDouble() const {
  switch (type()) {
    case Type::kBool:
      return AsBool() ? 1.0 : 0.0;
    case Type::kInt:
      return static_cast<double>(AsInt());
    case Type::kFloat:
      return AsFloat();
    default:
      return 0.0;
  }
}

const char* Value::TypeName() const {
  switch (type()) {
    case Type::kUndefined:
      return "Undefined";
    case Type::kNone:
      return "NoneType";
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "int";
    case Type::kFloat:
      return "float";
    case Type::kString:
      return "str";
    case Type::kList:
      return AsList()->is_tuple ? "tuple" : "list";
    case Type::kDict:
      return AsDict()->is_namespace ? "Namespace" : "dict";
    case Type::kFunction:
      return "function";
  }
  return "?";
}

bool Truthy(const Value& v) {
  switch (v.type()) {
    case Value::Type::kUndefined:
    case Value::Type::kNone:
      return false;
    case Value::Type::kBool:
      return v.AsBool();
    case Value::Type::kInt:
      return v.AsInt() != 0;
    case Value::Type::kFloat:
      return v.AsFloat() != 0.0;
    case Value::Type::kString:
      return !v.AsString().empty();
    case Value::Type::kList:
      return !v.AsList()->items.empty();
    case Value::Type::kDict:
      return v.AsDict()->is_namespace || !v.AsDict()->entries.empty();
    case Value::Type::kFunction:
      return true;
  }
  return false;
}

static bool DictEqual(const Dict& a, const Dict& b) {
  if (a.entries.size() != b.entries.size()) return false;
  for (const auto& [k, v] : a.entries) {
    const Value* other = b.Find(k);
    if (other == nullptr || !Equal(v, *other)) return false;
  }
  return true;
}

bool Equal(const Value& a, const Value& b) {
  if (a.IsNumber() && b.IsNumber()) {
    if (a.IsFloat() || b.IsFloat()) return a.ToDouble() == b.ToDouble();
    int64_t x = a.IsBool() ? a.AsBool() : a.AsInt();
    int64_t y = b.IsBool() ? b.AsBool() : b.AsInt();
    return x == y;
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Value::Type::kUndefined:
    case Value::Type::kNone:
      return true;
    case Value::Type::kString:
      return a.AsString() == b.AsString();
    case Value::Type::kList: {
      const List& x = *a.AsList();
      const List& y = *b.AsList();
      if (x.is_tuple != y.is_tuple || x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); ++i) {
        if (!Equal(x.items[i], y.items[i])) return false;
      }
      return true;
    }
    case Value::Type::kDict:
      if (a.AsDict()->is_namespace || b.AsDict()->is_namespace) return a.AsDict() == b.AsDict();
      return DictEqual(*a.AsDict(), *b.AsDict());
    case Value::Type::kFunction:
      return &a.AsFunction() == &b.AsFunction();
    default:
      return false;
  }
}

std::string FloatRepr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  size_t e_pos = sci.find('e');
  int exp = std::atoi(sci.c_str() + e_pos + 1);
  // Python switches to exponent form outside 1e-4 <= |d| < 1e16 (float_repr_style 'r').
  if (exp < -4 || exp >= 16) return sign + sci;
  std::string digits = sci.substr(0, 1) + (e_pos > 2 ? sci.substr(2, e_pos - 2) : "");
  std::string out;
  if (exp >= 0) {
    size_t int_len = static_cast<size_t>(exp) + 1;
    if (digits.size() <= int_len) {
      out = digits + std::string(int_len - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, int_len) + "." + digits.substr(int_len);
    }
  } else {
    out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
  }
  return sign + out;
}

static std::string StringRepr(const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos;
  bool has_double = s.find('"') != std::string::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : s) {
    if (c == quote || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
  return out;
}

static void ReprInto(const Value& v, std::string& out, size_t max_bytes) {
  switch (v.type()) {
    case Value::Type::kList: {
      const List& list = *v.AsList();
      out += list.is_tuple ? "(" : "[";
      for (size_t i = 0; i < list.items.size(); ++i) {
        if (i > 0) out += ", ";
        ReprInto(list.items[i], out, max_bytes);
      }
      if (list.is_tuple && list.items.size() == 1) out += ",";
      out += list.is_tuple ? ")" : "]";
      break;
    }
    case Value::Type::kDict: {
      const Dict& dict = *v.AsDict();
      out += dict.is_namespace ? "<Namespace {" : "{";
      for (size_t i = 0; i < dict.entries.size(); ++i) {
        if (i > 0) out += ", ";
        out += StringRepr(dict.entries[i].first) + ": ";
        ReprInto(dict.entries[i].second, out, max_bytes);
      }
      out += dict.is_namespace ? "}>" : "}";
      break;
    }
    case Value::Type::kString:
      out += StringRepr(v.AsString());
      break;
    case Value::Type::kUndefined:
      out += "Undefined";  // repr(jinja2.Undefined()) inside a list or tuple
      break;
    default:
      out += ToStr(v);
  }
  if (out.size() > max_bytes) {
    throw Error(ErrorCode::kOutOfRange,
                "chat template value prints to more than " + std::to_string(max_bytes) + " bytes");
  }
}

std::string Repr(const Value& v, size_t max_bytes) {
  std::string out;
  ReprInto(v, out, max_bytes);
  return out;
}

std::string ToStr(const Value& v, size_t max_bytes) {
  switch (v.type()) {
    case Value::Type::kUndefined:
      return "";
    case Value::Type::kNone:
      return "None";
    case Value::Type::kBool:
      return v.AsBool() ? "True" : "False";
    case Value::Type::kInt:
      return std::to_string(v.AsInt());
    case Value::Type::kFloat:
      return FloatRepr(v.AsFloat());
    case Value::Type::kString:
      return v.AsString();
    case Value::Type::kFunction:
      return "<function>";
    default:
      return Repr(v, max_bytes);
  }
}

}  // namespace qwenvl::text::jinja
