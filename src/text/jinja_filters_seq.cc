// Jinja filters on sequences and mappings: length, first/last, join, list, reverse, sort, unique,
// sum/min/max, items/dictsort, map, select/reject and selectattr/rejectattr.
#include <algorithm>

#include "text/jinja_error.h"
#include "text/jinja_eval.h"
#include "text/jinja_filters_impl.h"
#include "text/jinja_unicode.h"

namespace qwenvl::text::jinja {
namespace {

const Value kNone{nullptr};

// Jinja's attribute="a.b.0": item lookups along a dotted path.
Value AttrPath(const Value& v, const Value& path, int line, Budget& b) {
  if (path.IsInt()) return GetItem(v, path, line, b);
  if (!path.IsString()) ThrowType(line, "attribute must be a string or int");
  Value cur = v;
  const std::string dot = ".";
  for (const std::string& part : Split(path.AsString(), &dot, -1)) {
    bool digits =
        !part.empty() && part.size() < 18 &&
        std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    cur =
        GetItem(cur, digits ? Value(static_cast<int64_t>(std::stoll(part))) : Value(part), line, b);
  }
  return cur;
}

// Sort key: the attribute if asked for, lowercased unless case_sensitive.
Value SortKey(const Value& v, const Value& attribute, bool case_sensitive, int line, Budget& b) {
  Value key = attribute.IsNone() ? v : AttrPath(v, attribute, line, b);
  if (!case_sensitive && key.IsString()) return Value(ToLower(key.AsString()));
  return key;
}

Value Length(const Value& in, const CallArgs& a, Budget&) {
  switch (in.type()) {
    case Value::Type::kUndefined:
      return Value(0);
    case Value::Type::kString:
      return Value(static_cast<int64_t>(CodepointCount(in.AsString())));
    case Value::Type::kList:
      return Value(static_cast<int64_t>(in.AsList()->items.size()));
    case Value::Type::kDict:
      if (!in.AsDict()->is_namespace)
        return Value(static_cast<int64_t>(in.AsDict()->entries.size()));
      break;
    default:
      break;
  }
  ThrowType(a.line, std::string("object of type '") + in.TypeName() + "' has no len()");
}

Value First(const Value& in, const CallArgs& a, Budget&) {
  std::vector<Value> items = Iterate(in, a.line);
  return items.empty() ? Value::MakeUndefined("first item") : items.front();
}

Value Last(const Value& in, const CallArgs& a, Budget&) {
  std::vector<Value> items = Iterate(in, a.line);
  return items.empty() ? Value::MakeUndefined("last item") : items.back();
}

Value Join(const Value& in, const CallArgs& a, Budget& b) {
  Value sep_v = Arg(a, 0, "d", Value(""));
  std::string sep = ToStr(sep_v, b.max_string());
  Value attribute = Arg(a, 1, "attribute", kNone);
  std::string out;
  bool first = true;
  for (const Value& item : Iterate(in, a.line)) {
    if (!first) out += sep;
    first = false;
    out += ToStr(attribute.IsNone() ? item : AttrPath(item, attribute, a.line, b), b.max_string());
    b.CheckString(out.size(), a.line);
  }
  return Value(std::move(out));
}

Value ListFilter(const Value& in, const CallArgs& a, Budget&) {
  return Value::MakeList(Iterate(in, a.line));
}

Value Reverse(const Value& in, const CallArgs& a, Budget&) {
  std::vector<Value> items = Iterate(in, a.line);
  std::reverse(items.begin(), items.end());
  if (!in.IsString()) return Value::MakeList(std::move(items));
  std::string out;
  for (const Value& c : items) out += c.AsString();
  return Value(std::move(out));
}

Value Sort(const Value& in, const CallArgs& a, Budget& b) {
  bool reverse = Truthy(Arg(a, 0, "reverse", Value(false)));
  bool case_sensitive = Truthy(Arg(a, 1, "case_sensitive", Value(false)));
  Value attribute = Arg(a, 2, "attribute", kNone);
  std::vector<std::pair<Value, Value>> keyed;  // (key, item)
  for (const Value& item : Iterate(in, a.line)) {
    keyed.emplace_back(SortKey(item, attribute, case_sensitive, a.line, b), item);
  }
  int line = a.line;
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    b.Step(line);
    return reverse ? Compare("<", y.first, x.first, line) : Compare("<", x.first, y.first, line);
  });
  std::vector<Value> out;
  for (auto& [key, item] : keyed) out.push_back(std::move(item));
  return Value::MakeList(std::move(out));
}

Value Unique(const Value& in, const CallArgs& a, Budget& b) {
  bool case_sensitive = Truthy(Arg(a, 0, "case_sensitive", Value(false)));
  Value attribute = Arg(a, 1, "attribute", kNone);
  std::vector<Value> seen_keys;
  std::vector<Value> out;
  for (const Value& item : Iterate(in, a.line)) {
    Value key = SortKey(item, attribute, case_sensitive, a.line, b);
    bool seen = false;
    for (const Value& k : seen_keys) {
      b.Step(a.line);
      if (Equal(k, key)) {
        seen = true;
        break;
      }
    }
    if (seen) continue;
    seen_keys.push_back(key);
    out.push_back(item);
  }
  return Value::MakeList(std::move(out));
}

// min/max: the first extreme item (by key), or Undefined when empty.
Value Extreme(const Value& in, const CallArgs& a, Budget& b, bool want_max) {
  bool case_sensitive = Truthy(Arg(a, 0, "case_sensitive", Value(false)));
  Value attribute = Arg(a, 1, "attribute", kNone);
  std::vector<Value> items = Iterate(in, a.line);
  if (items.empty()) return Value::MakeUndefined(want_max ? "max" : "min");
  size_t best = 0;
  Value best_key = SortKey(items[0], attribute, case_sensitive, a.line, b);
  for (size_t i = 1; i < items.size(); ++i) {
    Value key = SortKey(items[i], attribute, case_sensitive, a.line, b);
    if (Compare(want_max ? ">" : "<", key, best_key, a.line)) {
      best = i;
      best_key = key;
    }
  }
  return items[best];
}
Value Min(const Value& in, const CallArgs& a, Budget& b) { return Extreme(in, a, b, false); }
Value Max(const Value& in, const CallArgs& a, Budget& b) { return Extreme(in, a, b, true); }

Value Sum(const Value& in, const CallArgs& a, Budget& b) {
  Value attribute = Arg(a, 0, "attribute", kNone);
  Value total = Arg(a, 1, "start", Value(0));
  for (const Value& item : Iterate(in, a.line)) {
    total = BinaryOp("+", total, attribute.IsNone() ? item : AttrPath(item, attribute, a.line, b),
                     a.line, b);
  }
  return total;
}

Value Items(const Value& in, const CallArgs& a, Budget& b) {
  if (in.IsUndefined()) return Value::MakeList({});
  if (!in.IsDict() || in.AsDict()->is_namespace) ThrowType(a.line, "items filter needs a mapping");
  return GetAttr(in, "items", a.line, b).AsFunction()(ArgsAt(a.line));
}

Value DictSort(const Value& in, const CallArgs& a, Budget& b) {
  if (!in.IsDict() || in.AsDict()->is_namespace)
    ThrowType(a.line, "dictsort filter needs a mapping");
  bool case_sensitive = Truthy(Arg(a, 0, "case_sensitive", Value(false)));
  Value by = Arg(a, 1, "by", Value("key"));
  int pos = by.IsString() && by.AsString() == "value" ? 1 : 0;
  CallArgs sort_args = ArgsAt(a.line);
  sort_args.keyword = {{"reverse", Arg(a, 2, "reverse", Value(false))},
                       {"case_sensitive", Value(case_sensitive)},
                       {"attribute", Value(pos)}};
  return Sort(Items(in, a, b), sort_args, b);
}

// Builtins that take a filter or test name may not nest themselves (bounds recursion).
void CheckNotHigherOrder(const std::string& name, int line) {
  static const char* const kHigher[] = {"map", "select", "reject", "selectattr", "rejectattr"};
  for (const char* h : kHigher) {
    if (name == h) ThrowUnsupported(line, "'" + name + "' passed to map/select");
  }
}

CallArgs Rest(const CallArgs& a, size_t from) {
  CallArgs rest = ArgsAt(a.line);
  for (size_t i = from; i < a.positional.size(); ++i) rest.positional.push_back(a.positional[i]);
  return rest;
}

Value Map(const Value& in, const CallArgs& a, Budget& b) {
  std::vector<Value> out;
  Value attribute = Arg(a, 99, "attribute", kNone);
  for (const Value& item : Iterate(in, a.line)) {
    if (!attribute.IsNone()) {
      Value v = AttrPath(item, attribute, a.line, b);
      out.push_back(v.IsUndefined() ? Arg(a, 99, "default", v) : v);
      continue;
    }
    if (a.positional.empty() || !a.positional[0].IsString())
      ThrowType(a.line, "map needs a filter name or attribute=");
    CheckNotHigherOrder(a.positional[0].AsString(), a.line);
    out.push_back(ApplyFilter(a.positional[0].AsString(), item, Rest(a, 1), b));
  }
  return Value::MakeList(std::move(out));
}

// select/reject (attr_index < 0) and selectattr/rejectattr (test name after the attribute).
Value SelectImpl(const Value& in, const CallArgs& a, Budget& b, bool keep_if, bool by_attr) {
  size_t test_index = by_attr ? 1 : 0;
  if (by_attr && a.positional.empty()) ThrowType(a.line, "selectattr/rejectattr need an attribute");
  bool has_test = a.positional.size() > test_index;
  std::string test =
      has_test && a.positional[test_index].IsString() ? a.positional[test_index].AsString() : "";
  if (has_test && test.empty()) ThrowType(a.line, "test name must be a string");
  CallArgs test_args = Rest(a, test_index + 1);
  std::vector<Value> out;
  for (const Value& item : Iterate(in, a.line)) {
    b.Step(a.line);
    Value subject = by_attr ? AttrPath(item, a.positional[0], a.line, b) : item;
    bool pass = has_test ? ApplyTest(test, subject, test_args) : Truthy(subject);
    if (pass == keep_if) out.push_back(item);
  }
  return Value::MakeList(std::move(out));
}
Value Select(const Value& in, const CallArgs& a, Budget& b) {
  return SelectImpl(in, a, b, true, false);
}
Value Reject(const Value& in, const CallArgs& a, Budget& b) {
  return SelectImpl(in, a, b, false, false);
}
Value SelectAttr(const Value& in, const CallArgs& a, Budget& b) {
  return SelectImpl(in, a, b, true, true);
}
Value RejectAttr(const Value& in, const CallArgs& a, Budget& b) {
  return SelectImpl(in, a, b, false, true);
}

constexpr FilterEntry kSequenceFilters[] = {
    {"length", Length},
    {"count", Length},
    {"first", First},
    {"last", Last},
    {"join", Join},
    {"list", ListFilter},
    {"reverse", Reverse},
    {"sort", Sort},
    {"unique", Unique},
    {"min", Min},
    {"max", Max},
    {"sum", Sum},
    {"items", Items},
    {"dictsort", DictSort},
    {"map", Map},
    {"select", Select},
    {"reject", Reject},
    {"selectattr", SelectAttr},
    {"rejectattr", RejectAttr},
};

}  // namespace

const FilterEntry* FindSequenceFilter(const std::string& name) {
  for (const FilterEntry& f : kSequenceFilters) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

}  // namespace qwenvl::text::jinja
