// Filter table entries shared by jinja_filters.cc and jinja_filters_seq.cc. Internal to src/text.
#pragma once

#include <string>

#include "text/jinja_budget.h"
#include "text/jinja_value.h"

namespace qwenvl::text::jinja {

using FilterFn = Value (*)(const Value& input, const CallArgs& args, Budget& budget);

struct FilterEntry {
  const char* name;
  FilterFn fn;
};

// The sequence filters (length, first, join, map, selectattr, ...), or null.
const FilterEntry* FindSequenceFilter(const std::string& name);

}  // namespace qwenvl::text::jinja
