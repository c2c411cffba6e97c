// The `tojson` filter as transformers defines it for chat templates:
// json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "text/jinja_value.h"

namespace qwenvl::text::jinja {

struct JsonStyle {
  bool indent = false;      // json.dumps(indent=None): one line
  std::string indent_unit;  // else: a newline before each item, indented by this per level
  bool ensure_ascii = false;
  bool sort_keys = false;
  std::string item_separator = ", ";  // Python's default is "," when indent is given
  std::string key_separator = ": ";
  size_t max_bytes = SIZE_MAX;  // longer output throws qwenvl::Error (kOutOfRange)
};

// Throws qwenvl::Error (TypeError) for values JSON cannot hold: Undefined, namespace, function.
std::string ToJson(const Value& v, const JsonStyle& style, int line);

}  // namespace qwenvl::text::jinja
