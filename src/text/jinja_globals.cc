// Global functions visible to chat templates: Jinja's range, namespace and dict, plus the
// raise_exception and strftime_now that transformers adds.
#include <ctime>

#include "text/jinja_error.h"
#include "text/jinja_eval.h"

namespace qwenvl::text::jinja {
namespace {

int64_t RangeArg(const Value& v, int line) {
  if (v.IsInt()) return v.AsInt();
  if (v.IsBool()) return v.AsBool() ? 1 : 0;
  ThrowType(line, std::string("'") + v.TypeName() + "' object cannot be interpreted as an integer");
}

Value Range(const CallArgs& a, Budget& budget) {
  const auto& p = a.positional;
  if (p.empty() || p.size() > 3) ThrowType(a.line, "range expected 1 to 3 arguments");
  int64_t start = p.size() == 1 ? 0 : RangeArg(p[0], a.line);
  int64_t stop = RangeArg(p.size() == 1 ? p[0] : p[1], a.line);
  int64_t step = p.size() == 3 ? RangeArg(p[2], a.line) : 1;
  if (step == 0) ThrowAt(ErrorCode::kInvalidArgument, a.line, "range() arg 3 must not be zero");
  // Count in floating point first so extreme bounds cannot overflow.
  double span =
      (static_cast<double>(stop) - static_cast<double>(start)) / static_cast<double>(step);
  size_t count = span <= 0 ? 0 : static_cast<size_t>(std::min(span + 1.0, 1e18));
  budget.CheckItems(count, a.line);
  std::vector<Value> items;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    items.emplace_back(i);
    if (step > 0 ? i > INT64_MAX - step : i < INT64_MIN - step) break;
  }
  return Value::MakeList(std::move(items));
}

// namespace(value=0) or namespace({'a': 1}, b=2): a dict whose attributes `set` may assign.
Value Namespace(const CallArgs& a) {
  Value ns = Value::MakeDict();
  ns.AsDict()->is_namespace = true;
  for (const Value& p : a.positional) {
    if (!p.IsDict() || p.AsDict()->is_namespace)
      ThrowType(a.line, "namespace() positional argument must be a dict");
    for (const auto& [k, v] : p.AsDict()->entries) ns.AsDict()->Set(k, v);
  }
  for (const auto& [k, v] : a.keyword) ns.AsDict()->Set(k, v);
  for (const auto& [k, v] : ns.AsDict()->entries) {
    if (HoldsNamespaceOrFunction(v))
      ThrowUnsupported(a.line, "storing a namespace or function inside a namespace");
  }
  return ns;
}

Value DictGlobal(const CallArgs& a) {
  Value d = Value::MakeDict();
  for (const Value& p : a.positional) {
    if (!p.IsDict()) ThrowType(a.line, "dict() positional argument must be a dict");
    for (const auto& [k, v] : p.AsDict()->entries) d.AsDict()->Set(k, v);
  }
  for (const auto& [k, v] : a.keyword) d.AsDict()->Set(k, v);
  return d;
}

Value RaiseException(const CallArgs& a) {
  std::string message = a.positional.empty() ? "" : ToStr(a.positional[0], 4096);
  ThrowAt(ErrorCode::kInvalidArgument, a.line, "raise_exception: " + message);
}

Value StrftimeNow(const CallArgs& a) {
  if (a.positional.empty() || !a.positional[0].IsString())
    ThrowType(a.line, "strftime_now needs a format string");
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buf[256];
  size_t n = std::strftime(buf, sizeof(buf), a.positional[0].AsString().c_str(), &local);
  return Value(std::string(buf, n));
}

}  // namespace

Value LookupGlobal(const std::string& name, Budget& budget) {
  if (name == "range") {
    Budget* b = &budget;
    return Value::MakeFunction([b](const CallArgs& a) { return Range(a, *b); });
  }
  if (name == "namespace") return Value::MakeFunction(Namespace);
  if (name == "dict") return Value::MakeFunction(DictGlobal);
  if (name == "raise_exception") return Value::MakeFunction(RaiseException);
  if (name == "strftime_now") return Value::MakeFunction(StrftimeNow);
  return Value::MakeUndefined(name);
}

}  // namespace qwenvl::text::jinja
