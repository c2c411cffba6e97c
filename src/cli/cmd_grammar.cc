// `qwenvl grammar`: a constraint checked without a model, for writing schemas and grammars.
//   qwenvl grammar --json-schema s.json --print          the GBNF the schema compiles to
//   qwenvl grammar --grammar g.gbnf --check < texts.jsonl
// --check reads JSON strings, one per line, and prints for each
//   {"accepted_bytes": N, "complete": true|false}
// N: how many leading bytes of the text the language allows (the whole text when it is a prefix
// of some sentence); complete: the text is a whole sentence.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "cli/run_options.h"
#include "grammar/constraint_gbnf.h"
#include "grammar/gbnf.h"
#include "grammar/matcher.h"
#include "util/error.h"

namespace qwenvl::cli {

void AddGrammarCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "grammar", "Compile a JSON Schema or GBNF grammar and check texts against it");
  auto o = std::make_shared<GenerationOptions>();
  auto print = std::make_shared<bool>(false);
  auto check = std::make_shared<bool>(false);
  cmd->add_option("--json-schema", o->json_schema_file, "JSON Schema file");
  cmd->add_option("--grammar", o->grammar_file, "GBNF file");
  cmd->add_flag("--json-object", o->json, "Any JSON object");
  cmd->add_flag("--grounding", o->grounding, "Qwen2.5-VL grounding JSON");
  cmd->add_flag("--print", *print, "Print the GBNF the constraint compiles to");
  cmd->add_flag("--check", *check,
                "Check JSON-string lines of standard input against the language");
  cmd->callback([o, print, check] {
    const OutputConstraint constraint = o->ToConstraint();
    if (constraint.kind == OutputConstraint::Kind::kNone)
      throw Error(ErrorCode::kInvalidArgument,
                  "give --json-schema, --grammar, --json-object or --grounding");
    const std::string gbnf = grammar::ConstraintGbnf(constraint);
    // Compiling refuses what the engine would refuse, with the same message.
    auto vocab = std::make_shared<grammar::TokenVocabulary>(std::vector<std::string>{""},
                                                            std::vector<TokenId>{0});
    grammar::CompiledGrammar g(grammar::ParseGbnf(gbnf), vocab);
    if (*print || !*check) std::fputs(gbnf.c_str(), stdout);
    if (!*check) return;
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line.empty()) continue;
      const auto text = nlohmann::json::parse(line, nullptr, false);
      if (!text.is_string())
        throw Error(ErrorCode::kInvalidArgument, "--check: each line must be a JSON string");
      const std::string s = text.get<std::string>();
      int32_t state = g.initial_state();
      size_t accepted = 0;
      for (; accepted < s.size(); ++accepted) {
        const int32_t next = g.Advance(state, std::string_view(s).substr(accepted, 1));
        if (next == grammar::CompiledGrammar::kDead) break;
        state = next;
      }
      const bool complete = accepted == s.size() && g.CanEnd(state);
      std::printf("{\"accepted_bytes\": %zu, \"complete\": %s}\n", accepted,
                  complete ? "true" : "false");
    }
  });
}

}  // namespace qwenvl::cli
