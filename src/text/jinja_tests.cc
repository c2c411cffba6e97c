// Jinja tests (`x is defined`, `x is string`, `x is divisibleby 3`, ...), Jinja 3.1 semantics.
#include <cmath>

#include "text/jinja_error.h"
#include "text/jinja_eval.h"
#include "text/jinja_unicode.h"

namespace qwenvl::text::jinja {
namespace {

const Value kNone{nullptr};

const Value& Operand(const std::string& name, const CallArgs& args) {
  if (args.positional.empty()) ThrowType(args.line, "test '" + name + "' needs an argument");
  return args.positional[0];
}

bool Parity(const std::string& name, const Value& v, const CallArgs& args, int64_t divisor) {
  if (!v.IsNumber()) {
    ThrowType(args.line, std::string("test '") + name + "' needs a number, got " + v.TypeName());
  }
  if (v.IsFloat()) {
    double r = std::fmod(v.AsFloat(), static_cast<double>(divisor));
    return name == "odd" ? std::fabs(r) == 1.0 : r == 0.0;
  }
  int64_t x = v.IsBool() ? v.AsBool() : v.AsInt();
  if (divisor == 0) ThrowAt(ErrorCode::kInvalidArgument, args.line, "integer modulo by zero");
  int64_t r = divisor == -1 ? 0 : x % divisor;
  return name == "odd" ? r != 0 : r == 0;
}

bool IsCased(const std::string& s, bool want_lower) {
  std::string lower = ToLower(s);
  std::string upper = ToUpper(s);
  if (lower == upper) return false;  // no cased characters
  return want_lower ? s == lower : s == upper;
}

bool SameAs(const Value& a, const Value& b) {
  if (a.type() != b.type()) return false;
  if (a.IsList()) return a.AsList() == b.AsList();
  if (a.IsDict()) return a.AsDict() == b.AsDict();
  if (a.IsFunction()) return &a.AsFunction() == &b.AsFunction();
  return Equal(a, b);
}

}  // namespace

bool ApplyTest(const std::string& name, const Value& v, const CallArgs& args) {
  if (name == "defined") return !v.IsUndefined();
  if (name == "undefined") return v.IsUndefined();
  if (name == "none") return v.IsNone();
  if (name == "boolean") return v.IsBool();
  if (name == "true") return v.IsBool() && v.AsBool();
  if (name == "false") return v.IsBool() && !v.AsBool();
  if (name == "integer") return v.IsInt();
  if (name == "float") return v.IsFloat();
  if (name == "number") return v.IsNumber();
  if (name == "string") return v.IsString();
  if (name == "mapping") return v.IsDict() && !v.AsDict()->is_namespace;
  if (name == "iterable" || name == "sequence") {
    return v.IsUndefined() || v.IsString() || v.IsList() ||
           (v.IsDict() && !v.AsDict()->is_namespace);
  }
  if (name == "callable") return v.IsFunction();
  if (name == "escaped") return false;
  if (name == "odd" || name == "even") return Parity(name, v, args, 2);
  if (name == "divisibleby") {
    const Value& n = Operand(name, args);
    if (!n.IsInt()) ThrowType(args.line, "divisibleby needs an int");
    return Parity(name, v, args, n.AsInt());
  }
  if (name == "lower" || name == "upper")
    return v.IsString() && IsCased(v.AsString(), name == "lower");
  if (name == "sameas") return SameAs(v, Operand(name, args));
  if (name == "in") return Contains(Operand(name, args), v, args.line);
  static const char* const kCompare[][2] = {
      {"eq", "=="}, {"equalto", "=="},    {"==", "=="}, {"ne", "!="}, {"!=", "!="},
      {"lt", "<"},  {"lessthan", "<"},    {"<", "<"},   {"le", "<="}, {"<=", "<="},
      {"gt", ">"},  {"greaterthan", ">"}, {">", ">"},   {"ge", ">="}, {">=", ">="},
  };
  for (const auto& [test, op] : kCompare) {
    if (name == test) return Compare(op, v, Operand(name, args), args.line);
  }
  ThrowUnsupported(args.line, "test '" + name + "'");
}

}  // namespace qwenvl::text::jinja
