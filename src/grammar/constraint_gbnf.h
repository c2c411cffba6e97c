// The GBNF text of a qwenvl::OutputConstraint: JSON Schema and the fixed formats converted,
// grammars as given.
#pragma once

#include <string>

#include "qwenvl/engine.h"

namespace qwenvl::grammar {

// "" for kNone. Throws Error(kInvalidArgument) for a schema that does not convert.
std::string ConstraintGbnf(const OutputConstraint& constraint);

}  // namespace qwenvl::grammar
