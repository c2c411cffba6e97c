// JSON Schema to GBNF: the answer is JSON that validates against the schema. The subset is the
// one OpenAI's structured outputs accept, plus a few common extras:
//   type (one or a list), object with properties / required / additionalProperties, array with
//   items / prefixItems / minItems / maxItems, string with enum / const / minLength / maxLength /
//   pattern (a regular-expression subset: classes, groups, alternation, quantifiers) / format
//   (date, time, date-time, uuid, email, ipv4), number, integer, boolean, null, enum, const,
//   anyOf / oneOf, allOf of one schema, $ref to #, #/$defs/... or #/definitions/... (recursion
//   allowed).
// Annotations (title, description, default, examples, $schema, $id, $comment, deprecated,
// readOnly, writeOnly) are ignored. Every other keyword (minimum, multipleOf, uniqueItems,
// patternProperties, not, if/then, ...) is refused with a message naming it, so that an answer
// never fails a constraint the grammar did not enforce.
//
// Properties come in the schema's order; optional ones may be left out. Further members follow the
// listed ones only when additionalProperties is true or a schema (or when no properties are
// listed); an extra member's name is not checked against the listed ones.
#pragma once

#include <string>
#include <string_view>

namespace qwenvl::grammar {

// GBNF (gbnf.h) whose root rule matches the JSON texts valid under the schema. Throws
// Error(kInvalidArgument) for a malformed schema or an unsupported keyword.
std::string JsonSchemaToGbnf(std::string_view schema_json);

// The rules of JsonSchemaToGbnf without the shared JSON rules (ws, json-string, json-value, ...,
// given by JsonBaseRules): rule `name` matches the schema's documents and every other rule's name
// starts with `name-`, so several schemas can share one grammar (tool calls).
std::string JsonSchemaRules(std::string_view schema_json, const std::string& name);
std::string JsonBaseRules();

// GBNF for any JSON object (OpenAI's json_object mode, ollama's format "json").
std::string JsonObjectGbnf();

// GBNF for Qwen2.5-VL's grounding answers: a JSON list of {"bbox_2d": [x1, y1, x2, y2], "label":
// "..."} or {"point_2d": [x, y], "label": "..."} items in integer pixels, optionally in a ```json
// fence as the model writes it.
std::string GroundingGbnf();

// The regular-expression subset of `pattern` as a GBNF expression matching the JSON string
// contents (between the quotes) that the pattern matches whole. Throws Error(kInvalidArgument).
std::string RegexToGbnf(std::string_view pattern);

}  // namespace qwenvl::grammar
