// Evaluates expression trees against the variable scopes.
#include "text/jinja_eval.h"

#include "text/jinja_error.h"

namespace qwenvl::text::jinja {

Evaluator::Evaluator(const Value& context, Budget& budget) : budget_(budget) {
  scopes_.emplace_back();
  if (context.IsDict()) {
    for (const auto& [k, v] : context.AsDict()->entries) scopes_.back()[k] = v;
  }
}

Value Evaluator::Lookup(const std::string& name) const {
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
    auto found = it->find(name);
    if (found != it->end()) return found->second;
  }
  return LookupGlobal(name, budget_);
}

void Evaluator::Assign(const std::string& name, Value value) {
  scopes_.back()[name] = std::move(value);
}

Value Evaluator::Eval(const Expr& e) {
  budget_.Step(e.line);
  switch (e.kind) {
    case Expr::Kind::kLiteral:
      return e.literal;
    case Expr::Kind::kName:
      return Lookup(e.name);
    case Expr::Kind::kList:
      return EvalList(e);
    case Expr::Kind::kDict:
      return EvalDict(e);
    case Expr::Kind::kAttr:
      return GetAttr(Eval(*e.args[0]), e.name, e.line, budget_);
    case Expr::Kind::kItem: {
      Value obj = Eval(*e.args[0]);
      return GetItem(obj, Eval(*e.args[1]), e.line, budget_);
    }
    case Expr::Kind::kSlice:
      return EvalSlice(e);
    case Expr::Kind::kCall:
      return EvalCall(e);
    case Expr::Kind::kFilter:
      return EvalFilter(e);
    case Expr::Kind::kTest: {
      Value input = Eval(*e.args[0]);
      bool result = ApplyTest(e.name, input, EvalArgs(e, 1));
      return Value(e.negated ? !result : result);
    }
    case Expr::Kind::kUnary:
      return EvalUnary(e);
    case Expr::Kind::kBinary:
      return EvalBinary(e);
    case Expr::Kind::kCompare:
      return EvalCompare(e);
    case Expr::Kind::kCond:
      if (Truthy(Eval(*e.args[1]))) return Eval(*e.args[0]);
      return e.args[2] ? Eval(*e.args[2]) : Value::MakeUndefined("conditional expression");
  }
  return Value();
}

Value Evaluator::EvalList(const Expr& e) {
  std::vector<Value> items;
  items.reserve(e.args.size());
  for (const ExprPtr& arg : e.args) items.push_back(Eval(*arg));
  return Value::MakeList(std::move(items), e.is_tuple);
}

Value Evaluator::EvalDict(const Expr& e) {
  Value dict = Value::MakeDict();
  for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
    Value key = Eval(*e.args[i]);
    if (!key.IsString()) {
      ThrowUnsupported(e.line, std::string("dict key of type ") + key.TypeName() + " (only str)");
    }
    dict.AsDict()->Set(key.AsString(), Eval(*e.args[i + 1]));
  }
  return dict;
}

CallArgs Evaluator::EvalArgs(const Expr& e, size_t first) {
  CallArgs args;
  args.line = e.line;
  for (size_t i = first; i < e.args.size(); ++i) args.positional.push_back(Eval(*e.args[i]));
  for (const auto& [key, value] : e.kwargs) args.keyword.emplace_back(key, Eval(*value));
  return args;
}

Value Evaluator::EvalCall(const Expr& e) {
  Value callee = Eval(*e.args[0]);
  if (callee.IsUndefined()) {
    ThrowAt(ErrorCode::kInvalidArgument, e.line, "'" + callee.UndefinedName() + "' is undefined");
  }
  if (!callee.IsFunction())
    ThrowType(e.line, std::string("'") + callee.TypeName() + "' object is not callable");
  return callee.AsFunction()(EvalArgs(e, 1));
}

Value Evaluator::EvalFilter(const Expr& e) {
  Value input = Eval(*e.args[0]);
  return ApplyFilter(e.name, input, EvalArgs(e, 1), budget_);
}

Value Evaluator::EvalBinary(const Expr& e) {
  Value lhs = Eval(*e.args[0]);
  // `and` / `or` short-circuit and return an operand, as in Python.
  if (e.name == "and") return Truthy(lhs) ? Eval(*e.args[1]) : lhs;
  if (e.name == "or") return Truthy(lhs) ? lhs : Eval(*e.args[1]);
  Value rhs = Eval(*e.args[1]);
  return BinaryOp(e.name, lhs, rhs, e.line, budget_);
}

Value Evaluator::EvalCompare(const Expr& e) {
  // Chained: a < b < c means a < b and b < c.
  Value left = Eval(*e.args[0]);
  for (size_t i = 0; i < e.ops.size(); ++i) {
    Value right = Eval(*e.args[i + 1]);
    if (!Compare(e.ops[i], left, right, e.line)) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

Value Evaluator::EvalUnary(const Expr& e) {
  Value v = Eval(*e.args[0]);
  if (e.name == "not") return Value(!Truthy(v));
  if (e.name == "-") return Negate(v, e.line);
  if (!v.IsNumber())
    ThrowType(e.line, std::string("bad operand type for unary +: '") + v.TypeName() + "'");
  return v.IsBool() ? Value(static_cast<int64_t>(v.AsBool())) : v;
}

Value Evaluator::EvalSlice(const Expr& e) {
  Value obj = Eval(*e.args[0]);
  Value bounds[3];
  for (int i = 0; i < 3; ++i) bounds[i] = e.args[i + 1] ? Eval(*e.args[i + 1]) : Value(nullptr);
  return Slice(obj, bounds[0], bounds[1], bounds[2], e.line);
}

}  // namespace qwenvl::text::jinja
