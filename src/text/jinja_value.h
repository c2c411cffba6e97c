// The values a chat template computes with: Jinja's (Python's) none/bool/int/float/str/list/dict,
// plus Undefined, namespace objects and callables (model-spec §8.3). Lists and dicts are shared by
// reference, as in Python; only namespace attributes are ever mutated (HF renders in an immutable
// sandbox).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace qwenvl::text::jinja {

class Value;

// Containers record their nesting depth; building one deeper than this throws, so printing,
// comparing and freeing values never recurses without bound (templates can nest values in loops).
inline constexpr int kMaxValueDepth = 200;

// Python list or tuple (a tuple only changes how it prints).
struct List {
  std::vector<Value> items;
  bool is_tuple = false;
  int depth = 1;
};

// Python dict with string keys in insertion order; a namespace() object is a dict whose attributes
// may be assigned with `{% set ns.attr = ... %}`.
struct Dict {
  std::vector<std::pair<std::string, Value>> entries;
  bool is_namespace = false;
  int depth = 1;

  const Value* Find(const std::string& key) const;
  void Set(const std::string& key, Value value);
};

// Arguments of a call: f(a, b, key=c). `line` is the template line, for error messages.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  int line = 0;
};

using Function = std::function<Value(const CallArgs&)>;

struct Undefined {
  std::string name;  // what was looked up, for "'x' is undefined"
};

class Value {
 public:
  enum class Type { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunction };

  Value() : data_(Undefined{}) {}
  Value(std::nullptr_t) : data_(nullptr) {}
  Value(bool b) : data_(b) {}
  Value(int i) : data_(static_cast<int64_t>(i)) {}
  Value(int64_t i) : data_(i) {}
  Value(double d) : data_(d) {}
  Value(std::string s) : data_(std::move(s)) {}
  Value(const char* s) : data_(std::string(s)) {}
  Value(std::shared_ptr<List> l) : data_(std::move(l)) {}
  Value(std::shared_ptr<Dict> d) : data_(std::move(d)) {}
  Value(std::shared_ptr<const Function> f) : data_(std::move(f)) {}

  static Value MakeUndefined(std::string name) { return Value(Undefined{std::move(name)}); }
  static Value MakeList(std::vector<Value> items, bool is_tuple = false);
  static Value MakeDict();
  static Value MakeFunction(Function f);

  Type type() const { return static_cast<Type>(data_.index()); }
  bool IsUndefined() const { return type() == Type::kUndefined; }
  bool IsNone() const { return type() == Type::kNone; }
  bool IsBool() const { return type() == Type::kBool; }
  bool IsInt() const { return type() == Type::kInt; }
  bool IsFloat() const { return type() == Type::kFloat; }
  bool IsNumber() const { return IsInt() || IsFloat() || IsBool(); }
  bool IsString() const { return type() == Type::kString; }
  bool IsList() const { return type() == Type::kList; }
  bool IsDict() const { return type() == Type::kDict; }
  bool IsFunction() const { return type() == Type::kFunction; }

  bool AsBool() const { return std::get<bool>(data_); }
  int64_t AsInt() const { return std::get<int64_t>(data_); }
  double AsFloat() const { return std::get<double>(data_); }
  const std::string& AsString() const { return std::get<std::string>(data_); }
  const std::shared_ptr<List>& AsList() const { return std::get<std::shared_ptr<List>>(data_); }
  const std::shared_ptr<Dict>& AsDict() const { return std::get<std::shared_ptr<Dict>>(data_); }
  const Function& AsFunction() const { return *std::get<std::shared_ptr<const Function>>(data_); }
  const std::string& UndefinedName() const { return std::get<Undefined>(data_).name; }

  // 0 for scalars, else the container's recorded nesting depth.
  int Depth() const;
  // Numeric value of a bool/int/float (Python bools are ints).
  double ToDouble() const;
  // Python's name for the type ("str", "int", "NoneType", ...), for error messages.
  const char* TypeName() const;

 private:
  explicit Value(Undefined u) : data_(std::move(u)) {}
  std::variant<Undefined, std::nullptr_t, bool, int64_t, double, std::string, std::shared_ptr<List>,
               std::shared_ptr<Dict>, std::shared_ptr<const Function>>
      data_;
};

// Python truthiness: Undefined, none, false, 0, "", [] and {} are false.
bool Truthy(const Value& v);
// Python ==, with 1 == 1.0 == True; Undefined equals only Undefined.
bool Equal(const Value& a, const Value& b);
// str(v) as Jinja prints it: strings verbatim, none as "None", lists/dicts as Python repr.
// Throws qwenvl::Error (kOutOfRange) once the text would exceed max_bytes.
std::string ToStr(const Value& v, size_t max_bytes = SIZE_MAX);
// repr(v) as Python writes it ('it\'s' quoting rules, [1, 'a'], {'k': None}).
std::string Repr(const Value& v, size_t max_bytes = SIZE_MAX);
// Python float repr: shortest round-trip digits, "1.0", "1e+20", "inf", "nan".
std::string FloatRepr(double d);

// Input conversion: JSON objects keep their key order (use ordered_json to keep the caller's
// order).
template <typename Json>
Value FromJson(const Json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value(nullptr);
    case nlohmann::json::value_t::boolean:
      return Value(j.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      uint64_t u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
      return Value(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value(j.template get<double>());
    case nlohmann::json::value_t::string:
      return Value(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(FromJson(e));
      return Value::MakeList(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Value d = Value::MakeDict();
      for (auto it = j.begin(); it != j.end(); ++it)
        d.AsDict()->Set(it.key(), FromJson(it.value()));
      return d;
    }
    default:
      return Value(nullptr);  // binary/discarded: not produced by a JSON parser
  }
}

}  // namespace qwenvl::text::jinja
