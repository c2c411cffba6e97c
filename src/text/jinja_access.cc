// x.name, x[key], x[a:b:c] and iteration, with Jinja's rules: a missing key or attribute is
// Undefined, but looking anything up on an Undefined is an error (UndefinedError).
#include "text/jinja_error.h"
#include "text/jinja_eval.h"
#include "text/jinja_unicode.h"

namespace qwenvl::text::jinja {

// Defined in jinja_methods.cc: obj.name as a bound method, or Undefined when `obj` has none.
Value BoundMethod(const Value& obj, const std::string& name, Budget& budget);

void ThrowType(int line, const std::string& message) {
  ThrowAt(ErrorCode::kInvalidArgument, line, "TypeError: " + message);
}

Value Arg(const CallArgs& args, size_t i, const char* key, const Value& fallback) {
  if (i < args.positional.size()) return args.positional[i];
  for (const auto& [k, v] : args.keyword) {
    if (k == key) return v;
  }
  return fallback;
}

bool HoldsNamespaceOrFunction(const Value& v) {
  if (v.IsFunction()) return true;
  if (v.IsList()) {
    for (const Value& item : v.AsList()->items) {
      if (HoldsNamespaceOrFunction(item)) return true;
    }
  } else if (v.IsDict()) {
    if (v.AsDict()->is_namespace) return true;
    for (const auto& [k, item] : v.AsDict()->entries) {
      if (HoldsNamespaceOrFunction(item)) return true;
    }
  }
  return false;
}

static void ThrowIfUndefined(const Value& obj, int line) {
  if (obj.IsUndefined()) {
    ThrowAt(ErrorCode::kInvalidArgument, line,
            "UndefinedError: '" + (obj.UndefinedName().empty() ? "value" : obj.UndefinedName()) +
                "' is undefined");
  }
}

Value GetAttr(const Value& obj, const std::string& name, int line, Budget& budget) {
  ThrowIfUndefined(obj, line);
  // Python attributes (dict.items, str.strip, ...) come before dict keys, as in Jinja's getattr.
  if (!obj.IsDict() || !obj.AsDict()->is_namespace) {
    Value method = BoundMethod(obj, name, budget);
    if (!method.IsUndefined()) return method;
  }
  if (obj.IsDict()) {
    const Value* found = obj.AsDict()->Find(name);
    if (found != nullptr) return *found;
  }
  return Value::MakeUndefined(name);
}

static bool ToIndex(const Value& key, int64_t* index) {
  if (key.IsInt()) {
    *index = key.AsInt();
    return true;
  }
  if (key.IsBool()) {
    *index = key.AsBool() ? 1 : 0;
    return true;
  }
  return false;
}

Value GetItem(const Value& obj, const Value& key, int line, Budget& budget) {
  ThrowIfUndefined(obj, line);
  std::string what = key.IsString() ? key.AsString() : ToStr(key);
  int64_t index = 0;
  if (obj.IsDict()) {
    if (key.IsString()) {
      const Value* found = obj.AsDict()->Find(key.AsString());
      if (found != nullptr) return *found;
      if (!obj.AsDict()->is_namespace) return GetAttr(obj, key.AsString(), line, budget);
    }
  } else if (obj.IsList() && ToIndex(key, &index)) {
    const auto& items = obj.AsList()->items;
    auto n = static_cast<int64_t>(items.size());
    if (index < 0) index += n;
    if (index >= 0 && index < n) return items[static_cast<size_t>(index)];
  } else if (obj.IsString() && ToIndex(key, &index)) {
    std::vector<size_t> offsets = CodepointOffsets(obj.AsString());
    auto n = static_cast<int64_t>(offsets.size()) - 1;
    if (index < 0) index += n;
    if (index >= 0 && index < n) {
      auto i = static_cast<size_t>(index);
      return Value(obj.AsString().substr(offsets[i], offsets[i + 1] - offsets[i]));
    }
  } else if (key.IsString()) {
    return GetAttr(obj, key.AsString(), line, budget);
  }
  return Value::MakeUndefined(what);
}

// Python slice bounds for a sequence of length n.
static std::vector<size_t> SliceIndices(int64_t n, const Value& start, const Value& stop,
                                        const Value& step_v, int line) {
  int64_t step = 1;
  if (!step_v.IsNone() && !ToIndex(step_v, &step))
    ThrowType(line, "slice indices must be integers or None");
  if (step == 0) ThrowAt(ErrorCode::kInvalidArgument, line, "slice step cannot be zero");
  auto bound = [&](const Value& v, int64_t fallback) {
    int64_t i = 0;
    if (v.IsNone()) return fallback;
    if (!ToIndex(v, &i)) ThrowType(line, "slice indices must be integers or None");
    if (i < 0) i = std::max<int64_t>(i + n, step < 0 ? -1 : 0);
    return std::min<int64_t>(i, step < 0 ? n - 1 : n);
  };
  int64_t lo = bound(start, step < 0 ? n - 1 : 0);
  int64_t hi = bound(stop, step < 0 ? -1 : n);
  std::vector<size_t> picked;
  for (int64_t i = lo; step > 0 ? i < hi : i > hi; i += step)
    picked.push_back(static_cast<size_t>(i));
  return picked;
}

Value Slice(const Value& obj, const Value& start, const Value& stop, const Value& step, int line) {
  ThrowIfUndefined(obj, line);
  if (obj.IsList()) {
    const auto& items = obj.AsList()->items;
    std::vector<Value> out;
    for (size_t i : SliceIndices(static_cast<int64_t>(items.size()), start, stop, step, line)) {
      out.push_back(items[i]);
    }
    return Value::MakeList(std::move(out), obj.AsList()->is_tuple);
  }
  if (obj.IsString()) {
    const std::string& s = obj.AsString();
    std::vector<size_t> offsets = CodepointOffsets(s);
    std::string out;
    for (size_t i :
         SliceIndices(static_cast<int64_t>(offsets.size()) - 1, start, stop, step, line)) {
      out.append(s, offsets[i], offsets[i + 1] - offsets[i]);
    }
    return Value(std::move(out));
  }
  ThrowType(line, std::string("'") + obj.TypeName() + "' object is not subscriptable");
}

std::vector<Value> Iterate(const Value& v, int line) {
  switch (v.type()) {
    case Value::Type::kUndefined:
      return {};
    case Value::Type::kList:
      return v.AsList()->items;
    case Value::Type::kDict: {
      if (v.AsDict()->is_namespace) break;
      std::vector<Value> keys;
      for (const auto& [k, item] : v.AsDict()->entries) keys.emplace_back(k);
      return keys;
    }
    case Value::Type::kString: {
      const std::string& s = v.AsString();
      std::vector<size_t> offsets = CodepointOffsets(s);
      std::vector<Value> chars;
      for (size_t i = 0; i + 1 < offsets.size(); ++i) {
        chars.emplace_back(s.substr(offsets[i], offsets[i + 1] - offsets[i]));
      }
      return chars;
    }
    default:
      break;
  }
  ThrowType(line, std::string("'") + v.TypeName() + "' object is not iterable");
}

}  // namespace qwenvl::text::jinja
