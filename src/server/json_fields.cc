#include "server/json_fields.h"

#include <cmath>
#include <cstdio>

namespace qwenvl::server {

using json = nlohmann::ordered_json;

void WrongType(const std::string& param, const std::string& expected, const json& v) {
  throw BadRequest(param + " must be " + expected + ", got " + v.type_name(), param,
                   "invalid_type");
}

std::string RealText(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

std::optional<double> ReadReal(const json& object, const char* key, const std::string& param,
                               double lo, double hi, bool lo_open) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  const std::string range = (lo_open ? "(" : "[") + RealText(lo) + ", " + RealText(hi) + "]";
  if (!it->is_number()) WrongType(param, "a number in " + range, *it);
  const double v = it->get<double>();
  if (!std::isfinite(v) || (lo_open ? v <= lo : v < lo) || v > hi) {
    throw BadRequest(param + " must be a number in " + range + ", got " + it->dump(), param);
  }
  return v;
}

std::optional<float> ReadFloat(const json& object, const char* key, const std::string& param,
                               double lo, double hi, bool lo_open) {
  const auto v = ReadReal(object, key, param, lo, hi, lo_open);
  if (!v) return std::nullopt;
  return static_cast<float>(*v);
}

TokenId ReadTokenId(const json& v, const std::string& param, int64_t vocab) {
  if (!IsIntegerIn<int64_t>(v, 0, vocab - 1)) {
    throw BadRequest(param + " must be a token id, an integer in [0, " + std::to_string(vocab) +
                         "), got " + (v.is_primitive() ? v.dump() : std::string(v.type_name())),
                     param, v.is_number_integer() ? "invalid_value" : "invalid_type");
  }
  return v.get<TokenId>();
}

bool ReadBool(const json& object, const char* key, const std::string& param, bool& out) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return false;
  if (!it->is_boolean()) WrongType(param, "a boolean", *it);
  out = it->get<bool>();
  return true;
}

}  // namespace qwenvl::server
