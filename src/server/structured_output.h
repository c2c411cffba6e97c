// The fields of a request body that hold the answer to a language (qwenvl::OutputConstraint):
//   response_format: {"type": "text"} | {"type": "json_object"} |
//                    {"type": "json_schema", "json_schema": {"name", "schema", "strict"}} |
//                    {"type": "grounding"}                          (OpenAI, plus qwenvl's own)
//   grammar: "<GBNF>", json_schema: {...}                           (llama-server)
//   guided_json: {...} | "<schema text>", guided_grammar: "<GBNF>"   (vLLM)
//   grounding: true                                                  (qwenvl)
// At most one of them may be set. The constraint is compiled here once, so that a schema or
// grammar the engine cannot enforce is a 400 naming the field, before anything is queued.
#pragma once

#include <nlohmann/json.hpp>

#include "qwenvl/engine.h"

namespace qwenvl::server {

// Throws ApiError (400) for a malformed, contradictory or unsupported constraint.
OutputConstraint ParseOutputConstraint(const nlohmann::ordered_json& body);

// Throws ApiError (400, naming `param`) when the constraint does not compile.
void CheckConstraintCompiles(const OutputConstraint& constraint, const std::string& param);

}  // namespace qwenvl::server
