#include "grammar/constraint_gbnf.h"

#include "grammar/json_schema.h"

namespace qwenvl::grammar {

std::string ConstraintGbnf(const OutputConstraint& constraint) {
  switch (constraint.kind) {
    case OutputConstraint::Kind::kNone:
      return "";
    case OutputConstraint::Kind::kJsonObject:
      return JsonObjectGbnf();
    case OutputConstraint::Kind::kJsonSchema:
      return JsonSchemaToGbnf(constraint.text);
    case OutputConstraint::Kind::kGrammar:
      return constraint.text;
    case OutputConstraint::Kind::kGrounding:
      return GroundingGbnf();
  }
  return "";
}

}  // namespace qwenvl::grammar
