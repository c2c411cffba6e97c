// Typed reads of the fields of a JSON request body. Each refuses a wrong type or an out-of-range
// value with a 400 ApiError naming the field (`param`); an absent or null field reads as unset.
// Request bodies are parsed as nlohmann::ordered_json: tool schemas and call arguments reach the
// prompt in the order the client wrote them.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "qwenvl/token_id.h"
#include "server/api_error.h"

namespace qwenvl::server {

[[noreturn]] void WrongType(const std::string& param, const std::string& expected,
                            const nlohmann::ordered_json& v);

std::string RealText(double v);

template <typename T>
std::string RangeText(T lo, T hi) {
  return "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
}

// Whether a JSON value is an integer literal in [lo, hi]. Only a JSON integer literal is an
// integer (3.5, 3.0, 1e3 and booleans are not), and its exact value is compared before it is
// narrowed: nlohmann keeps non-negative integers as uint64 and negative ones as int64, so reading
// either as a narrower type first could wrap (4294967297 as an int is 1).
template <typename T>
bool IsIntegerIn(const nlohmann::ordered_json& v, T lo, T hi) {
  if (!v.is_number_integer()) return false;
  const auto in_range = [&](auto x) {
    return std::cmp_less_equal(lo, x) && std::cmp_less_equal(x, hi);
  };
  return v.is_number_unsigned() ? in_range(v.get<uint64_t>()) : in_range(v.get<int64_t>());
}

// An integer value in [lo, hi]; anything else is a 400 naming `param`.
template <typename T>
T ReadIntegerValue(const nlohmann::ordered_json& v, const std::string& param, T lo, T hi) {
  const std::string expected = "an integer in " + RangeText(lo, hi);
  if (!v.is_number_integer()) {
    throw BadRequest(param + " must be " + expected + ", got " +
                         (v.is_number() ? v.dump() : std::string(v.type_name())),
                     param, "invalid_type");
  }
  if (!IsIntegerIn(v, lo, hi)) {
    throw BadRequest(param + " must be " + expected + ", got " + v.dump(), param);
  }
  return v.get<T>();
}

// An optional integer field.
template <typename T>
std::optional<T> ReadInteger(const nlohmann::ordered_json& object, const char* key,
                             const std::string& param, T lo, T hi) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  return ReadIntegerValue<T>(*it, param, lo, hi);
}

// A token id: an integer in [0, vocab).
TokenId ReadTokenId(const nlohmann::ordered_json& v, const std::string& param, int64_t vocab);

// An optional number field (integer or not), finite, in [lo, hi], or (lo, hi] when lo_open. The
// check is made on the double before any narrowing to float, which would be undefined past
// FLT_MAX.
std::optional<double> ReadReal(const nlohmann::ordered_json& object, const char* key,
                               const std::string& param, double lo, double hi,
                               bool lo_open = false);
std::optional<float> ReadFloat(const nlohmann::ordered_json& object, const char* key,
                               const std::string& param, double lo, double hi,
                               bool lo_open = false);

// An optional boolean field: returns whether it was present (then `out` holds it).
bool ReadBool(const nlohmann::ordered_json& object, const char* key, const std::string& param,
              bool& out);

// An absent value leaves `out` as it was, so that several sources of one setting combine.
template <typename T>
void Assign(std::optional<T> value, std::optional<T>& out) {
  if (value) out = value;
}

}  // namespace qwenvl::server
