#include "grammar/json_schema.h"

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "grammar/gbnf.h"
#include "qwenvl/error.h"

namespace qwenvl::grammar {

namespace {

using Json = nlohmann::ordered_json;

// Whitespace between JSON tokens: one space or tab, or a line break and its indentation (up to 32
// spaces or tabs), so compact and pretty-printed JSON both pass, while a model drawn to whitespace
// (single tokens of many spaces exist) cannot fill its answer with it.
constexpr const char* kJsonRules = R"(ws ::= ([ \t] | "\n" [ \t]{0,32})?
json-string ::= "\"" json-char* "\""
json-char ::= [^"\\\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})
json-int-part ::= "0" | [1-9] [0-9]{0,19}
json-integer ::= "-"? json-int-part
json-number ::= "-"? json-int-part ("." [0-9]{1,20})? ([eE] [-+]? [0-9]{1,3})?
json-boolean ::= "true" | "false"
json-null ::= "null"
json-value ::= json-object | json-array | json-string | json-number | json-boolean | json-null
json-object ::= "{" ws (json-string ws ":" ws json-value ws ("," ws json-string ws ":" ws json-value ws)*)? "}"
json-array ::= "[" ws (json-value ws ("," ws json-value ws)*)? "]"
)";

constexpr int kMaxSchemaDepth = 64;

std::string Literal(std::string_view bytes) { return GbnfLiteral(bytes); }

std::string JsonText(const Json& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::strict);
}

const std::set<std::string>& Annotations() {
  static const std::set<std::string> k{
      "title",      "description", "default",   "examples", "$schema", "$id",        "$comment",
      "deprecated", "readOnly",    "writeOnly", "strict",   "$defs",   "definitions"};
  return k;
}

const std::set<std::string>& Supported() {
  static const std::set<std::string> k{
      "type",    "properties",  "required",  "additionalProperties",
      "items",   "prefixItems", "minItems",  "maxItems",
      "enum",    "const",       "anyOf",     "oneOf",
      "allOf",   "$ref",        "minLength", "maxLength",
      "pattern", "format",      "nullable"};
  return k;
}

class Converter {
 public:
  Converter(Json root, std::string name) : root_(std::move(root)), name_(std::move(name)) {}

  std::string Convert() {
    const std::string root = Expr(root_, name_ + "-value", 0);
    std::string out = name_ + " ::= " + root + "\n";
    for (const auto& [name, body] : rules_) out += name + " ::= " + body + "\n";
    return out;
  }

 private:
  [[noreturn]] static void Fail(const std::string& what) {
    throw Error(ErrorCode::kInvalidArgument, "json schema: " + what);
  }

  std::string NewRule(const std::string& hint, const std::string& body) {
    std::string base;
    for (char c : hint) base += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '-';
    if (base.size() > 60) base = base.substr(0, 60) + "x";
    std::string name = base;
    for (int i = 2; rules_.count(name) || reserved_.count(name); ++i)
      name = base + "-" + std::to_string(i);
    rules_[name] = body;
    return name;
  }

  static int64_t NonNegative(const Json& s, const char* key, int64_t fallback) {
    if (!s.contains(key)) return fallback;
    const Json& v = s[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 0)
      Fail(std::string("'") + key + "' must be a non-negative integer");
    if (v.get<int64_t>() > 10000) Fail(std::string("'") + key + "' above 10000 is not supported");
    return v.get<int64_t>();
  }

  static std::string Repeat(int64_t min, int64_t max) {
    if (max < 0) return min == 0 ? "*" : min == 1 ? "+" : "{" + std::to_string(min) + ",}";
    return "{" + std::to_string(min) + "," + std::to_string(max) + "}";
  }

  std::string Ref(const std::string& ref, int depth) {
    const auto it = refs_.find(ref);
    if (it != refs_.end()) return it->second;
    if (ref.empty() || ref[0] != '#') Fail("only local $ref (#...) is supported: '" + ref + "'");
    const Json* target = &root_;
    if (ref.size() > 1) {
      try {
        target = &root_.at(Json::json_pointer(ref.substr(1)));
      } catch (const std::exception&) {
        Fail("$ref '" + ref + "' points nowhere");
      }
    }
    // Name the rule before visiting its body, so that a recursive reference finds it.
    std::string name = NewRule(name_ + "-ref-" + ref.substr(ref.rfind('/') + 1), "");
    refs_[ref] = name;
    rules_[name] = Expr(*target, name + "-value", depth + 1);
    return name;
  }

  std::string Expr(const Json& s, const std::string& hint, int depth) {
    if (depth > kMaxSchemaDepth) Fail("nested deeper than " + std::to_string(kMaxSchemaDepth));
    if (s.is_boolean()) {
      if (!s.get<bool>()) Fail("the schema false matches nothing");
      return "json-value";
    }
    if (!s.is_object()) Fail("a schema must be an object or a boolean");
    for (auto it = s.begin(); it != s.end(); ++it) {
      if (!Supported().count(it.key()) && !Annotations().count(it.key()))
        Fail("keyword '" + it.key() +
             "' is not supported (it could not be enforced while decoding)");
    }
    std::string result = ExprBody(s, hint, depth);
    if (s.contains("nullable") && s["nullable"] == true) result = "(" + result + " | json-null)";
    return result;
  }

  std::string ExprBody(const Json& s, const std::string& hint, int depth) {
    if (s.contains("$ref")) {
      if (!s["$ref"].is_string()) Fail("'$ref' must be a string");
      return Ref(s["$ref"].get<std::string>(), depth);
    }
    if (s.contains("const")) return Literal(JsonText(s["const"]));
    if (s.contains("enum")) {
      if (!s["enum"].is_array() || s["enum"].empty()) Fail("'enum' must be a non-empty array");
      std::string alts;
      for (const Json& v : s["enum"]) alts += (alts.empty() ? "" : " | ") + Literal(JsonText(v));
      return "(" + alts + ")";
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (!s.contains(key)) continue;
      if (!s[key].is_array() || s[key].empty())
        Fail(std::string("'") + key + "' must be a non-empty array");
      std::string alts;
      int i = 0;
      for (const Json& sub : s[key])
        alts +=
            (alts.empty() ? "" : " | ") + Expr(sub, hint + "-" + std::to_string(i++), depth + 1);
      return NewRule(hint, alts);
    }
    if (s.contains("allOf")) {
      if (!s["allOf"].is_array() || s["allOf"].size() != 1)
        Fail("'allOf' is supported with exactly one schema");
      return Expr(s["allOf"][0], hint, depth + 1);
    }
    std::vector<std::string> types;
    if (s.contains("type")) {
      const Json& t = s["type"];
      if (t.is_string()) {
        types.push_back(t.get<std::string>());
      } else if (t.is_array() && !t.empty()) {
        for (const Json& x : t) {
          if (!x.is_string()) Fail("'type' lists must hold strings");
          types.push_back(x.get<std::string>());
        }
      } else {
        Fail("'type' must be a string or a non-empty list of strings");
      }
    } else if (s.contains("properties") || s.contains("additionalProperties") ||
               s.contains("required")) {
      types.push_back("object");
    } else if (s.contains("items") || s.contains("prefixItems")) {
      types.push_back("array");
    } else if (s.contains("pattern") || s.contains("format") || s.contains("minLength") ||
               s.contains("maxLength")) {
      types.push_back("string");
    } else {
      return "json-value";
    }
    std::string alts;
    for (const std::string& type : types)
      alts += (alts.empty() ? "" : " | ") + TypeExpr(s, type, hint, depth);
    return types.size() == 1 ? alts : NewRule(hint, alts);
  }

  std::string TypeExpr(const Json& s, const std::string& type, const std::string& hint, int depth) {
    if (type == "string") return StringExpr(s, hint);
    if (type == "number") return "json-number";
    if (type == "integer") return "json-integer";
    if (type == "boolean") return "json-boolean";
    if (type == "null") return "json-null";
    if (type == "array") return ArrayExpr(s, hint, depth);
    if (type == "object") return ObjectExpr(s, hint, depth);
    Fail("unknown type '" + type + "'");
  }

  std::string StringExpr(const Json& s, const std::string& hint) {
    if (s.contains("pattern")) {
      if (!s["pattern"].is_string()) Fail("'pattern' must be a string");
      return NewRule(hint,
                     "\"\\\"\" (" + RegexToGbnf(s["pattern"].get<std::string>()) + ") \"\\\"\"");
    }
    if (s.contains("format")) {
      if (!s["format"].is_string()) Fail("'format' must be a string");
      const std::string f = s["format"].get<std::string>();
      static const std::map<std::string, std::string> kFormats{
          {"date",
           R"([0-9]{4} "-" ("0" [1-9] | "1" [0-2]) "-" ("0" [1-9] | [12] [0-9] | "3" [01]))"},
          {"time",
           R"(([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,6})? ("Z" | [+-] ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9]))"},
          {"uuid",
           R"([0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12})"},
          {"email",
           R"([a-zA-Z0-9._%+-]{1,64} "@" [a-zA-Z0-9-]{1,63} ("." [a-zA-Z0-9-]{1,63}){1,8})"},
          {"ipv4",
           R"((("25" [0-5] | "2" [0-4] [0-9] | "1" [0-9] [0-9] | [1-9]? [0-9]) "."){3} ("25" [0-5] | "2" [0-4] [0-9] | "1" [0-9] [0-9] | [1-9]? [0-9]))"},
      };
      std::string body;
      if (f == "date-time") {
        body = kFormats.at("date") + " \"T\" " + kFormats.at("time");
      } else {
        const auto it = kFormats.find(f);
        if (it == kFormats.end()) Fail("string format '" + f + "' is not supported");
        body = it->second;
      }
      return NewRule(hint, "\"\\\"\" " + body + " \"\\\"\"");
    }
    const int64_t min = NonNegative(s, "minLength", 0);
    const int64_t max = NonNegative(s, "maxLength", -1);
    if (max >= 0 && max < min) Fail("'maxLength' is below 'minLength'");
    if (min == 0 && max < 0) return "json-string";
    return NewRule(hint, "\"\\\"\" json-char" + Repeat(min, max) + " \"\\\"\"");
  }

  std::string ArrayExpr(const Json& s, const std::string& hint, int depth) {
    const int64_t min = NonNegative(s, "minItems", 0);
    const int64_t max = NonNegative(s, "maxItems", -1);
    if (max >= 0 && max < min) Fail("'maxItems' is below 'minItems'");
    std::vector<std::string> prefix;
    if (s.contains("prefixItems")) {
      if (!s["prefixItems"].is_array()) Fail("'prefixItems' must be an array");
      int i = 0;
      for (const Json& sub : s["prefixItems"])
        prefix.push_back(Expr(sub, hint + "-" + std::to_string(i++), depth + 1));
    }
    std::string item;
    if (s.contains("items")) {
      if (!(s["items"].is_boolean() && !s["items"].get<bool>()))
        item = Expr(s["items"], hint + "-item", depth + 1);
    } else if (prefix.empty()) {
      item = "json-value";
    }
    if (!prefix.empty()) {
      // A tuple: every prefix item, then (when "items" is a schema) more of those.
      const int64_t n = static_cast<int64_t>(prefix.size());
      if (max >= 0 && max < n) Fail("'maxItems' is below the number of 'prefixItems'");
      std::string body = "\"[\" ws";
      for (int64_t i = 0; i < n; ++i) body += (i ? " \",\" ws " : " ") + prefix[i] + " ws";
      if (!item.empty() && (max < 0 || max > n))
        body += " (\",\" ws " + item + " ws)" +
                Repeat(std::max<int64_t>(0, min - n), max < 0 ? -1 : max - n);
      else if (min > n)
        Fail("'minItems' is above the number of 'prefixItems' and no 'items' schema allows more");
      return NewRule(hint, body + " \"]\"");
    }
    if (item.empty() || max == 0) {
      if (min > 0) Fail("'minItems' above 0 with no items allowed");
      return "\"[\" ws \"]\"";
    }
    const std::string more = "(\",\" ws " + item + " ws)" +
                             Repeat(std::max<int64_t>(0, min - 1), max < 0 ? -1 : max - 1);
    const std::string body = "\"[\" ws " + item + " ws " + more + " \"]\"";
    return NewRule(hint, min == 0 ? "\"[\" ws \"]\" | " + body : body);
  }

  std::string ObjectExpr(const Json& s, const std::string& hint, int depth) {
    std::vector<std::pair<std::string, std::string>> props;  // key literal, value expression
    std::set<std::string> required;
    if (s.contains("required")) {
      if (!s["required"].is_array()) Fail("'required' must be an array of names");
      for (const Json& r : s["required"]) {
        if (!r.is_string()) Fail("'required' must be an array of names");
        required.insert(r.get<std::string>());
      }
    }
    std::vector<bool> is_required;
    if (s.contains("properties")) {
      if (!s["properties"].is_object()) Fail("'properties' must be an object");
      const Json& properties = s["properties"];
      for (auto it = properties.begin(); it != properties.end(); ++it) {
        const std::string& name = it.key();
        const Json& sub = it.value();
        props.push_back({Literal(JsonText(Json(name))), Expr(sub, hint + "-" + name, depth + 1)});
        is_required.push_back(required.count(name) > 0);
        required.erase(name);
      }
    }
    if (!required.empty())
      Fail("required property '" + *required.begin() + "' is not in 'properties'");
    std::string extra;  // the value of further members, "" when none may follow
    // With properties listed and additionalProperties absent, only they are written: an extra
    // member could repeat a listed name with a value of another type, which the grammar could
    // not tell apart. An explicit true or schema allows extra members (that caveat included).
    const bool listed = s.contains("properties") && !s["properties"].empty();
    if ((!s.contains("additionalProperties") && !listed) ||
        s.value("additionalProperties", Json()) == true) {
      extra = "json-value";
    } else if (s.contains("additionalProperties") && s["additionalProperties"].is_object()) {
      extra = Expr(s["additionalProperties"], hint + "-extra", depth + 1);
    } else if (s.contains("additionalProperties") && s["additionalProperties"] != false) {
      Fail("'additionalProperties' must be a boolean or a schema");
    }
    // first_i: members from property i on, none written yet; rest_i: after at least one.
    const size_t n = props.size();
    const std::string extra_member =
        extra.empty() ? "" : "json-string ws \":\" ws " + extra + " ws";
    std::string rest_next =
        extra.empty() ? "" : NewRule(hint + "-more", "(\",\" ws " + extra_member + ")*");
    std::string first_next =
        extra.empty() ? "" : NewRule(hint + "-any", "(" + extra_member + " " + rest_next + ")?");
    for (size_t i = n; i-- > 0;) {
      const std::string member = props[i].first + " ws \":\" ws " + props[i].second + " ws";
      const std::string rest_body =
          "\",\" ws " + member + (rest_next.empty() ? "" : " " + rest_next);
      const std::string rest = NewRule(
          hint + "-rest",
          is_required[i] ? rest_body
                         : "(" + rest_body + ")" + (rest_next.empty() ? "?" : " | " + rest_next));
      const std::string first_body = member + (rest_next.empty() ? "" : " " + rest_next);
      std::string first;
      if (is_required[i]) {
        first = NewRule(hint + "-first", first_body);
      } else {
        first = NewRule(hint + "-first", first_next.empty() ? "(" + first_body + ")?"
                                                            : first_body + " | " + first_next);
      }
      rest_next = rest;
      first_next = first;
    }
    return NewRule(hint, "\"{\" ws " + (first_next.empty() ? "" : first_next + " ") + "\"}\"");
  }

  Json root_;
  std::string name_;  // the root rule; every other rule's name starts with it
  std::map<std::string, std::string> rules_;
  std::map<std::string, std::string> refs_;
  const std::set<std::string> reserved_{name_};
};

}  // namespace

std::string JsonSchemaRules(std::string_view schema_json, const std::string& name) {
  Json schema;
  try {
    schema = Json::parse(schema_json);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kInvalidArgument, std::string("json schema: not JSON: ") + e.what());
  }
  return Converter(std::move(schema), name).Convert();
}

std::string JsonBaseRules() { return kJsonRules; }

std::string JsonSchemaToGbnf(std::string_view schema_json) {
  return JsonSchemaRules(schema_json, "root") + kJsonRules;
}

std::string JsonObjectGbnf() { return std::string("root ::= json-object\n") + kJsonRules; }

std::string GroundingGbnf() {
  return std::string(R"(root ::= "```json\n" items "\n```" | items
items ::= "[" ws (item ws ("," ws item ws)*)? "]"
item ::= "{" ws (box | point) "," ws "\"label\"" ws ":" ws json-string ws "}"
box ::= "\"bbox_2d\"" ws ":" ws "[" ws coord ws "," ws coord ws "," ws coord ws "," ws coord ws "]" ws
point ::= "\"point_2d\"" ws ":" ws "[" ws coord ws "," ws coord ws "]" ws
coord ::= "0" | [1-9] [0-9]{0,4}
)") + kJsonRules;
}

}  // namespace qwenvl::grammar
