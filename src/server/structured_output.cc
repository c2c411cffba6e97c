#include "server/structured_output.h"

#include <string>
#include <vector>

#include "grammar/constraint_gbnf.h"
#include "grammar/gbnf.h"
#include "server/api_error.h"

namespace qwenvl::server {

namespace {

using json = nlohmann::ordered_json;

// A schema given as an object, or as its JSON text (vLLM accepts both).
std::string SchemaText(const json& v, const std::string& param) {
  if (v.is_object() || v.is_boolean()) return v.dump();
  if (v.is_string()) return v.get<std::string>();
  throw BadRequest(param + " must be a JSON Schema object", param, "invalid_type");
}

std::string GrammarText(const json& v, const std::string& param) {
  if (!v.is_string()) throw BadRequest(param + " must be a string (GBNF)", param, "invalid_type");
  return v.get<std::string>();
}

OutputConstraint FromResponseFormat(const json& rf, std::string* param) {
  if (!rf.is_object())
    throw BadRequest("response_format must be an object", "response_format", "invalid_type");
  const auto type = rf.find("type");
  if (type == rf.end() || !type->is_string())
    throw BadRequest("response_format.type must be a string", "response_format.type");
  const std::string t = type->get<std::string>();
  OutputConstraint c;
  *param = "response_format";
  if (t == "text") return c;
  if (t == "json_object") {
    c.kind = OutputConstraint::Kind::kJsonObject;
  } else if (t == "grounding") {
    c.kind = OutputConstraint::Kind::kGrounding;
  } else if (t == "json_schema") {
    const auto spec = rf.find("json_schema");
    if (spec == rf.end() || !spec->is_object())
      throw BadRequest("response_format.json_schema must be an object with a schema",
                       "response_format.json_schema");
    const auto schema = spec->find("schema");
    *param = "response_format.json_schema.schema";
    c.kind = OutputConstraint::Kind::kJsonSchema;
    // OpenAI allows the schema to be left out: any JSON then.
    c.text = schema == spec->end() || schema->is_null() ? "{}" : SchemaText(*schema, *param);
    if (auto strict = spec->find("strict");
        strict != spec->end() && !strict->is_null() && !strict->is_boolean())
      throw BadRequest("response_format.json_schema.strict must be a boolean",
                       "response_format.json_schema.strict", "invalid_type");
  } else {
    throw BadRequest(
        "response_format.type must be text, json_object, json_schema or grounding, got '" + t + "'",
        "response_format.type");
  }
  return c;
}

}  // namespace

void CheckConstraintCompiles(const OutputConstraint& constraint, const std::string& param) {
  if (constraint.kind == OutputConstraint::Kind::kNone) return;
  try {
    grammar::ParseGbnf(grammar::ConstraintGbnf(constraint));
  } catch (const Error& e) {
    throw BadRequest(e.what(), param, "invalid_constraint");
  }
}

OutputConstraint ParseOutputConstraint(const json& body) {
  std::vector<std::pair<std::string, OutputConstraint>> given;  // param, constraint
  const auto present = [&](const char* key) {
    const auto it = body.find(key);
    return it != body.end() && !it->is_null() ? &*it : nullptr;
  };
  if (const json* rf = present("response_format")) {
    std::string param;
    OutputConstraint c = FromResponseFormat(*rf, &param);
    if (c.kind != OutputConstraint::Kind::kNone) given.push_back({param, std::move(c)});
  }
  for (const char* key : {"json_schema", "guided_json"}) {
    if (const json* v = present(key))
      given.push_back({key, {OutputConstraint::Kind::kJsonSchema, SchemaText(*v, key)}});
  }
  for (const char* key : {"grammar", "guided_grammar"}) {
    if (const json* v = present(key))
      given.push_back({key, {OutputConstraint::Kind::kGrammar, GrammarText(*v, key)}});
  }
  if (const json* v = present("grounding")) {
    if (!v->is_boolean())
      throw BadRequest("grounding must be a boolean", "grounding", "invalid_type");
    if (v->get<bool>()) given.push_back({"grounding", {OutputConstraint::Kind::kGrounding, ""}});
  }
  if (given.empty()) return {};
  if (given.size() > 1)
    throw BadRequest(
        "at most one of response_format, json_schema, guided_json, grammar, guided_grammar and "
        "grounding may be set; got " +
            given[0].first + " and " + given[1].first,
        given[1].first, "conflicting_fields");
  CheckConstraintCompiles(given[0].second, given[0].first);
  return std::move(given[0].second);
}

}  // namespace qwenvl::server
