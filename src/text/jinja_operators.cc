// Arithmetic, concatenation, comparison and membership with Python semantics (ints are 64-bit here:
// overflow is an error rather than a bignum).
#include <cmath>

#include "text/jinja_error.h"
#include "text/jinja_eval.h"

namespace qwenvl::text::jinja {
namespace {

int64_t IntOf(const Value& v) { return v.IsBool() ? (v.AsBool() ? 1 : 0) : v.AsInt(); }
bool IsIntLike(const Value& v) { return v.IsInt() || v.IsBool(); }

[[noreturn]] void ThrowOperands(const std::string& op, const Value& a, const Value& b, int line) {
  ThrowType(line, "unsupported operand type(s) for " + op + ": '" + a.TypeName() + "' and '" +
                      b.TypeName() + "'");
}

[[noreturn]] void ThrowOverflow(int line) {
  ThrowAt(ErrorCode::kOutOfRange, line, "integer result beyond 64 bits");
}

int64_t FloorDiv(int64_t a, int64_t b, int line) {
  if (b == 0) ThrowAt(ErrorCode::kInvalidArgument, line, "integer division or modulo by zero");
  if (a == INT64_MIN && b == -1) ThrowOverflow(line);
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t FloorMod(int64_t a, int64_t b, int line) {
  if (b == 0) ThrowAt(ErrorCode::kInvalidArgument, line, "integer division or modulo by zero");
  if (b == -1) return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

Value IntPow(int64_t base, int64_t exp, int line) {
  if (exp < 0) return Value(std::pow(static_cast<double>(base), static_cast<double>(exp)));
  int64_t result = 1;
  while (exp > 0) {
    if (exp & 1) {
      if (__builtin_mul_overflow(result, base, &result)) ThrowOverflow(line);
    }
    exp >>= 1;
    if (exp > 0 && __builtin_mul_overflow(base, base, &base)) ThrowOverflow(line);
  }
  return Value(result);
}

Value IntArith(char op, int64_t a, int64_t b, int line) {
  int64_t r = 0;
  bool overflow = false;
  switch (op) {
    case '+':
      overflow = __builtin_add_overflow(a, b, &r);
      break;
    case '-':
      overflow = __builtin_sub_overflow(a, b, &r);
      break;
    case '*':
      overflow = __builtin_mul_overflow(a, b, &r);
      break;
  }
  if (overflow) ThrowOverflow(line);
  return Value(r);
}

Value FloatArith(const std::string& op, double a, double b, int line) {
  if (op == "+") return Value(a + b);
  if (op == "-") return Value(a - b);
  if (op == "*") return Value(a * b);
  if (op == "**") return Value(std::pow(a, b));
  if (b == 0.0) ThrowAt(ErrorCode::kInvalidArgument, line, "float division by zero");
  if (op == "/") return Value(a / b);
  if (op == "//") return Value(std::floor(a / b));
  double r = std::fmod(a, b);  // "%": the result takes the sign of the divisor
  if (r != 0.0 && ((r < 0) != (b < 0))) r += b;
  return Value(r);
}

Value Repeat(const Value& seq, int64_t count, int line, Budget& budget) {
  if (count < 0) count = 0;
  if (seq.IsString()) {
    const std::string& s = seq.AsString();
    if (!s.empty())
      budget.CheckString(
          static_cast<size_t>(count) <= SIZE_MAX / s.size() ? s.size() * count : SIZE_MAX, line);
    std::string out;
    for (int64_t i = 0; i < count && !s.empty(); ++i) out += s;
    return Value(std::move(out));
  }
  const List& list = *seq.AsList();
  if (!list.items.empty())
    budget.CheckItems(static_cast<size_t>(count) <= SIZE_MAX / list.items.size()
                          ? list.items.size() * count
                          : SIZE_MAX,
                      line);
  std::vector<Value> out;
  for (int64_t i = 0; i < count && !list.items.empty(); ++i) {
    out.insert(out.end(), list.items.begin(), list.items.end());
  }
  return Value::MakeList(std::move(out), list.is_tuple);
}

// Lexicographic / numeric ordering; returns <0, 0, >0. Types without an order are a TypeError.
int Order(const Value& a, const Value& b, const std::string& op, int line) {
  if (a.IsNumber() && b.IsNumber()) {
    if (IsIntLike(a) && IsIntLike(b)) return IntOf(a) < IntOf(b) ? -1 : IntOf(a) > IntOf(b) ? 1 : 0;
    double x = a.ToDouble();
    double y = b.ToDouble();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.IsString() && b.IsString()) return a.AsString().compare(b.AsString());
  if (a.IsList() && b.IsList()) {
    const auto& x = a.AsList()->items;
    const auto& y = b.AsList()->items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!Equal(x[i], y[i])) return Order(x[i], y[i], op, line);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  ThrowType(line, "'" + op + "' not supported between instances of '" + a.TypeName() + "' and '" +
                      b.TypeName() + "'");
}

}  // namespace

Value BinaryOp(const std::string& op, const Value& a, const Value& b, int line, Budget& budget) {
  if (op == "~") {
    std::string s = ToStr(a);
    std::string t = ToStr(b);
    budget.CheckString(s.size() + t.size(), line);
    return Value(s + t);
  }
  if (a.IsNumber() && b.IsNumber()) {
    if (IsIntLike(a) && IsIntLike(b)) {
      int64_t x = IntOf(a);
      int64_t y = IntOf(b);
      if (op == "+" || op == "-" || op == "*") return IntArith(op[0], x, y, line);
      if (op == "//") return Value(FloorDiv(x, y, line));
      if (op == "%") return Value(FloorMod(x, y, line));
      if (op == "**") return IntPow(x, y, line);
    }
    return FloatArith(op, a.ToDouble(), b.ToDouble(), line);
  }
  if (op == "+" && a.IsString() && b.IsString()) {
    budget.CheckString(a.AsString().size() + b.AsString().size(), line);
    return Value(a.AsString() + b.AsString());
  }
  if (op == "+" && a.IsList() && b.IsList() && a.AsList()->is_tuple == b.AsList()->is_tuple) {
    std::vector<Value> items = a.AsList()->items;
    budget.CheckItems(items.size() + b.AsList()->items.size(), line);
    items.insert(items.end(), b.AsList()->items.begin(), b.AsList()->items.end());
    return Value::MakeList(std::move(items), a.AsList()->is_tuple);
  }
  if (op == "*" && (a.IsString() || a.IsList()) && IsIntLike(b))
    return Repeat(a, IntOf(b), line, budget);
  if (op == "*" && (b.IsString() || b.IsList()) && IsIntLike(a))
    return Repeat(b, IntOf(a), line, budget);
  if (op == "%" && a.IsString()) ThrowUnsupported(line, "printf-style string formatting ('%')");
  ThrowOperands(op, a, b, line);
}

Value Negate(const Value& v, int line) {
  if (IsIntLike(v)) {
    if (IntOf(v) == INT64_MIN) ThrowOverflow(line);
    return Value(-IntOf(v));
  }
  if (v.IsFloat()) return Value(-v.AsFloat());
  ThrowType(line, std::string("bad operand type for unary -: '") + v.TypeName() + "'");
}

bool Contains(const Value& container, const Value& item, int line) {
  switch (container.type()) {
    case Value::Type::kUndefined:
      return false;  // Undefined iterates as empty
    case Value::Type::kString:
      if (!item.IsString()) {
        ThrowType(line, std::string("'in <string>' requires string as left operand, not ") +
                            item.TypeName());
      }
      return container.AsString().find(item.AsString()) != std::string::npos;
    case Value::Type::kList:
      for (const Value& v : container.AsList()->items) {
        if (Equal(v, item)) return true;
      }
      return false;
    case Value::Type::kDict:
      return item.IsString() && container.AsDict()->Find(item.AsString()) != nullptr;
    default:
      ThrowType(line,
                std::string("argument of type '") + container.TypeName() + "' is not iterable");
  }
}

bool Compare(const std::string& op, const Value& a, const Value& b, int line) {
  if (op == "==") return Equal(a, b);
  if (op == "!=") return !Equal(a, b);
  if (op == "in") return Contains(b, a, line);
  if (op == "not in") return !Contains(b, a, line);
  int order = Order(a, b, op, line);
  if (op == "<") return order < 0;
  if (op == ">") return order > 0;
  if (op == "<=") return order <= 0;
  return order >= 0;
}

}  // namespace qwenvl::text::jinja
