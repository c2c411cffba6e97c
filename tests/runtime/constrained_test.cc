// Constrained answers on the trained demo checkpoint: a constraint only removes tokens, so where
// the free answer already lies in the language the constrained greedy answer is the same token for
// token; where it does not, the constrained answer still parses and validates.
#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>

#include "qwenvl/engine.h"
#include "runtime/grounding.h"
#include "util/mapped_file.h"

namespace qwenvl {
namespace {

const std::string kDemo = QWENVL_DEMO_MODEL_DIR;
const std::string kDemoData = QWENVL_DATA_DIR "/demo";

struct Case {
  std::string image, question, kind;
};

std::vector<Case> LoadCases() {
  auto j = nlohmann::json::parse(ReadFileToString(kDemoData + "/cases.json"));
  std::vector<Case> out;
  for (const auto& c : j["cases"])
    out.push_back({kDemoData + "/" + c["image"].get<std::string>(), c["question"], c["kind"]});
  return out;
}

Engine& Demo() {
  static const std::unique_ptr<Engine> engine = [] {
    EngineOptions o;
    o.model_dir = kDemo;
    o.threads = 2;
    o.context_length = 1024;
    return Engine::Load(o);
  }();
  return *engine;
}

Request Ask(const Case& c, OutputConstraint constraint = {}) {
  Message user;
  user.role = "user";
  Media m;
  m.path = c.image;
  user.content.push_back({ContentPart::Type::kMedia, {}, m});
  user.content.push_back({ContentPart::Type::kText, c.question, {}});
  Request r;
  r.messages.push_back(user);
  r.sampling.max_new_tokens = 110;
  r.constraint = std::move(constraint);
  return r;
}

// Every locate question: the model's own answer is grounding JSON in a fence, so the grounding
// constraint leaves it unchanged, and the boxes parse.
TEST(Constrained, GroundingModeKeepsTheModelsOwnGroundingAnswers) {
  int located = 0;
  for (const Case& c : LoadCases()) {
    if (c.kind != "locate" && c.kind != "locate_all") continue;
    SCOPED_TRACE(c.question);
    const Result free = Demo().Generate(Ask(c));
    const Result constrained = Demo().Generate(Ask(c, {OutputConstraint::Kind::kGrounding, ""}));
    EXPECT_EQ(constrained.tokens, free.tokens) << free.text << "\n---\n" << constrained.text;
    EXPECT_EQ(constrained.finish_reason, FinishReason::kStop);
    EXPECT_FALSE(runtime::ParseGrounding(constrained.text).empty()) << constrained.text;
    ++located;
  }
  EXPECT_GE(located, 4);
}

// A grammar that holds every text changes no answer (the mask never removes the greedy token).
TEST(Constrained, AnyTextGrammarChangesNoAnswer) {
  const auto cases = LoadCases();
  for (size_t i = 0; i < cases.size(); i += 3) {
    SCOPED_TRACE(cases[i].question);
    const Result free = Demo().Generate(Ask(cases[i]));
    const Result constrained =
        Demo().Generate(Ask(cases[i], {OutputConstraint::Kind::kGrammar, "root ::= .*"}));
    EXPECT_EQ(constrained.tokens, free.tokens);
    EXPECT_EQ(constrained.text, free.text);
  }
}

// Questions the model answers in prose, forced into a schema: the answer is JSON of that schema,
// greedy and sampled with many seeds.
TEST(Constrained, SchemaAnswersAlwaysValidate) {
  const char* schema = R"({"type":"object","properties":{
      "count":{"type":"integer"},"color":{"enum":["red","green","blue","yellow"]},
      "shapes":{"type":"array","items":{"type":"string","maxLength":20},"maxItems":4}},
      "required":["count","color","shapes"],"additionalProperties":false})";
  const auto cases = LoadCases();
  for (int trial = 0; trial < 6; ++trial) {
    Request r = Ask(cases[trial % cases.size()], {OutputConstraint::Kind::kJsonSchema, schema});
    r.sampling.max_new_tokens = 200;
    if (trial > 0) {
      r.sampling.temperature = 1.0f;
      r.sampling.seed = static_cast<uint64_t>(trial);
    }
    const Result res = Demo().Generate(r);
    SCOPED_TRACE(res.text);
    if (res.finish_reason == FinishReason::kLength) continue;  // cut short: no whole document
    const auto doc = nlohmann::json::parse(res.text);
    ASSERT_TRUE(doc.is_object());
    EXPECT_TRUE(doc["count"].is_number_integer());
    EXPECT_TRUE(doc["color"].is_string());
    ASSERT_TRUE(doc["shapes"].is_array());
    EXPECT_LE(doc["shapes"].size(), 4u);
    EXPECT_EQ(doc.size(), 3u);
  }
}

TEST(Constrained, ABadConstraintFailsTheRequestClearly) {
  const Case c = LoadCases()[0];
  for (const OutputConstraint& bad :
       {OutputConstraint{OutputConstraint::Kind::kGrammar, "root ::= missing"},
        OutputConstraint{OutputConstraint::Kind::kJsonSchema,
                         "{\"type\":\"integer\",\"minimum\":1}"},
        OutputConstraint{OutputConstraint::Kind::kJsonSchema, "not json"}}) {
    try {
      Demo().Generate(Ask(c, bad));
      ADD_FAILURE() << "accepted " << bad.text;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    }
  }
  // Submitted, the error reaches the DoneCallback; the engine serves the next request.
  std::promise<std::string> failed;
  Demo().Submit(Ask(c, {OutputConstraint::Kind::kGrammar, "root ::= ("}), nullptr,
                [&](const Result*, const Error* e) { failed.set_value(e ? e->what() : ""); });
  EXPECT_NE(failed.get_future().get().find("grammar"), std::string::npos);
  EXPECT_FALSE(Demo().Generate(Ask(c)).text.empty());
}

}  // namespace
}  // namespace qwenvl
