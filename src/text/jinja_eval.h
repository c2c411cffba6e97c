// Expression evaluation and the builtins it dispatches to (filters, tests, methods, globals,
// operators). Internal to src/text; the public entry point is jinja_template.h.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "text/jinja_ast.h"
#include "text/jinja_budget.h"
#include "text/jinja_value.h"

namespace qwenvl::text::jinja {

// Variable scopes: the render context, then one frame per for-loop iteration (Jinja scoping:
// a `set` inside a loop body is not visible after the iteration).
class Evaluator {
 public:
  Evaluator(const Value& context, Budget& budget);

  Value Eval(const Expr& e);
  Value Lookup(const std::string& name) const;
  void Assign(const std::string& name, Value value);
  void PushScope() { scopes_.emplace_back(); }
  void PopScope() { scopes_.pop_back(); }
  Budget& budget() { return budget_; }

 private:
  Value EvalList(const Expr& e);
  Value EvalDict(const Expr& e);
  Value EvalCall(const Expr& e);
  Value EvalFilter(const Expr& e);
  Value EvalBinary(const Expr& e);
  Value EvalCompare(const Expr& e);
  Value EvalUnary(const Expr& e);
  Value EvalSlice(const Expr& e);
  CallArgs EvalArgs(const Expr& e, size_t first);

  std::vector<std::unordered_map<std::string, Value>> scopes_;
  Budget& budget_;
};

// Operators (jinja_operators.cc), with Python semantics and TypeError -> qwenvl::Error.
Value BinaryOp(const std::string& op, const Value& a, const Value& b, int line, Budget& budget);
Value Negate(const Value& v, int line);
bool Compare(const std::string& op, const Value& a, const Value& b, int line);
bool Contains(const Value& container, const Value& item, int line);

// Attribute / item access (jinja_access.cc): x.name and x[key] with Jinja's fallbacks; methods of
// str, dict and list come back as bound functions.
Value GetAttr(const Value& obj, const std::string& name, int line, Budget& budget);
Value GetItem(const Value& obj, const Value& key, int line, Budget& budget);
Value Slice(const Value& obj, const Value& start, const Value& stop, const Value& step, int line);
// The elements a for loop visits: list items, dict keys, string characters; Undefined is empty.
std::vector<Value> Iterate(const Value& v, int line);

// Builtins (jinja_filters*.cc, jinja_tests.cc, jinja_globals.cc).
Value ApplyFilter(const std::string& name, const Value& input, const CallArgs& args,
                  Budget& budget);
bool ApplyTest(const std::string& name, const Value& input, const CallArgs& args);
Value LookupGlobal(const std::string& name, Budget& budget);

// No arguments, at template line `line`.
inline CallArgs ArgsAt(int line) {
  CallArgs args;
  args.line = line;
  return args;
}
// Argument helpers for builtins: positional index i or keyword `key`, else `fallback`.
Value Arg(const CallArgs& args, size_t i, const char* key, const Value& fallback);
[[noreturn]] void ThrowType(int line, const std::string& message);
// True when `v` is, or holds, a namespace object or a function (a bound method holds its object).
// Such values may not be stored in a namespace, so values never form reference cycles.
bool HoldsNamespaceOrFunction(const Value& v);

}  // namespace qwenvl::text::jinja
