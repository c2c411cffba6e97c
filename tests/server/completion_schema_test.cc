// The /v1/completions body parser, with a byte tokenizer standing in for the model's (id = byte,
// and "<s>" is the special token 256).
#include "server/completion_schema.h"

#include <gtest/gtest.h>

#include "server/api_error.h"

namespace qwenvl::server {
namespace {

SchemaOptions Options() {
  SchemaOptions o;
  o.model_name = "m";
  o.served_names = {"m"};
  o.context_length = 64;
  o.max_choices = 6;
  return o;
}

PromptTokenizer Bytes() {
  PromptTokenizer t;
  t.tokenize = [](std::string_view text) {
    std::vector<TokenId> ids;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text.substr(i, 3) == "<s>") {
        ids.push_back(256);
        i += 2;
      } else {
        ids.push_back(static_cast<unsigned char>(text[i]));
      }
    }
    return ids;
  };
  t.detokenize = [](const std::vector<TokenId>& ids) {
    std::string text;
    for (TokenId id : ids) text += id == 256 ? std::string("<s>") : std::string(1, char(id));
    return text;
  };
  t.vocab_size = 257;
  return t;
}

CompletionRequest Parse(const std::string& body) {
  return ParseCompletionRequest(body, Options(), Bytes());
}

ApiError ErrorOf(const std::string& body) {
  try {
    Parse(body);
  } catch (const ApiError& e) {
    return e;
  }
  return ApiError(0, "no error");
}

TEST(CompletionSchema, AStringPromptIsTokenizedWithItsSpecialTokens) {
  const auto c = Parse(R"({"model":"m","prompt":"<s>ab"})");
  ASSERT_EQ(c.prompts.size(), 1u);
  EXPECT_EQ(c.prompts[0].ids, (std::vector<TokenId>{256, 'a', 'b'}));
  EXPECT_EQ(c.prompts[0].text, "");          // no echo: not kept
  EXPECT_EQ(c.sampling.max_new_tokens, 16);  // OpenAI's default for completions
  EXPECT_EQ(c.sampling.logprobs, -1);
  EXPECT_EQ(c.fields.n, 1);
  EXPECT_FALSE(c.echo);
}

TEST(CompletionSchema, TheFourPromptForms) {
  auto c = Parse(R"({"prompt":[104,105]})");
  ASSERT_EQ(c.prompts.size(), 1u);
  EXPECT_EQ(c.prompts[0].ids, (std::vector<TokenId>{104, 105}));
  c = Parse(R"({"prompt":["a","bc"],"echo":true})");
  ASSERT_EQ(c.prompts.size(), 2u);
  EXPECT_EQ(c.prompts[1].ids, (std::vector<TokenId>{'b', 'c'}));
  EXPECT_EQ(c.prompts[1].text, "bc");
  c = Parse(R"({"prompt":[[256,120],[121]],"echo":true,"n":3})");
  ASSERT_EQ(c.prompts.size(), 2u);
  EXPECT_EQ(c.prompts[0].text, "<s>x");  // token ids echo as their text
  EXPECT_EQ(c.prompts[1].ids, (std::vector<TokenId>{121}));
  EXPECT_EQ(c.fields.n, 3);
}

TEST(CompletionSchema, SharedFieldsAndItsOwn) {
  const auto c = Parse(
      R"({"prompt":"x","max_tokens":5,"temperature":0.5,"seed":3,"stop":["\n"],"stream":true,)"
      R"("stream_options":{"include_usage":true},"logprobs":5,"best_of":2,"n":2,"suffix":"",)"
      R"("top_k":4,"user":"someone"})");
  EXPECT_EQ(c.sampling.max_new_tokens, 5);
  EXPECT_FLOAT_EQ(*c.sampling.temperature, 0.5f);
  EXPECT_EQ(*c.sampling.seed, 3u);
  EXPECT_EQ(c.sampling.stop, std::vector<std::string>{"\n"});
  EXPECT_EQ(*c.sampling.top_k, 4);
  EXPECT_EQ(c.sampling.logprobs, 5);
  EXPECT_TRUE(c.fields.stream);
  EXPECT_TRUE(c.fields.include_usage);
  EXPECT_EQ(Parse(R"({"prompt":"x","logprobs":0})").sampling.logprobs, 0);
  EXPECT_EQ(Parse(R"({"prompt":"x","logprobs":null,"echo":true})").sampling.logprobs, -1);
}

TEST(CompletionSchema, EveryErrorNamesItsField) {
  struct Case {
    const char* body;
    int status;
    const char* param;
  };
  const std::string long_prompt = "\"" + std::string(64, 'a') + "\"";
  std::string many_ids = "[";
  for (int i = 0; i < 64; ++i) many_ids += (i ? ",1" : "1");
  many_ids += "]";
  const std::string too_long = R"({"prompt":)" + long_prompt + "}";
  const std::string too_many_ids = R"({"prompt":)" + many_ids + "}";
  const std::vector<Case> cases = {
      {"{", 400, ""},
      {"[]", 400, "body"},
      {R"({})", 400, "prompt"},
      {R"({"prompt":null})", 400, "prompt"},
      {R"({"prompt":5})", 400, "prompt"},
      {R"({"prompt":{"text":"x"}})", 400, "prompt"},
      {R"({"prompt":""})", 400, "prompt"},
      {R"({"prompt":[]})", 400, "prompt"},
      {R"({"prompt":[[]]})", 400, "prompt[0]"},
      {R"({"prompt":["a",""]})", 400, "prompt[1]"},
      {R"({"prompt":[1,"a"]})", 400, "prompt[1]"},
      {R"({"prompt":["a",[1]]})", 400, "prompt[1]"},
      {R"({"prompt":[[1],"a"]})", 400, "prompt[1]"},
      {R"({"prompt":[true]})", 400, "prompt[0]"},
      {R"({"prompt":[null]})", 400, "prompt[0]"},
      {R"({"prompt":[1.5]})", 400, "prompt[0]"},
      {R"({"prompt":[-1]})", 400, "prompt[0]"},
      {R"({"prompt":[257]})", 400, "prompt[0]"},
      {R"({"prompt":[4294967297]})", 400, "prompt[0]"},
      {R"({"prompt":[[1,2],[3,99999999999999999999]]})", 400, "prompt[1][1]"},
      {R"({"prompt":[[1],[[2]]]})", 400, "prompt[1][0]"},
      {too_long.c_str(), 400, "prompt"},
      {too_many_ids.c_str(), 400, "prompt"},
      {R"({"prompt":["a","b","c","d","e","f","g"]})", 400, "prompt"},
      {R"({"prompt":["a","b","c","d"],"n":2})", 400, "n"},
      {R"({"prompt":"x","n":7})", 400, "n"},
      {R"({"prompt":"x","model":"other"})", 404, "model"},
      {R"({"prompt":"x","logprobs":6})", 400, "logprobs"},
      {R"({"prompt":"x","logprobs":-1})", 400, "logprobs"},
      {R"({"prompt":"x","logprobs":true})", 400, "logprobs"},
      {R"({"prompt":"x","echo":"yes"})", 400, "echo"},
      {R"({"prompt":"x","echo":true,"logprobs":1})", 400, "echo"},
      {R"({"prompt":"x","suffix":"tail"})", 400, "suffix"},
      {R"({"prompt":"x","suffix":3})", 400, "suffix"},
      {R"({"prompt":"x","best_of":3,"n":2})", 400, "best_of"},
      {R"({"prompt":"x","best_of":1,"n":2})", 400, "best_of"},
      {R"({"prompt":"x","best_of":0})", 400, "best_of"},
      {R"({"prompt":"x","max_tokens":0})", 400, "max_tokens"},
      {R"({"prompt":"x","max_tokens":65})", 400, "max_tokens"},
      {R"({"prompt":"x","temperature":"hot"})", 400, "temperature"},
      {R"({"prompt":"x","stream":1})", 400, "stream"},
  };
  for (const auto& c : cases) {
    const ApiError e = ErrorOf(c.body);
    EXPECT_EQ(e.status(), c.status) << c.body << ": " << e.what();
    EXPECT_EQ(e.param(), c.param) << c.body << ": " << e.what();
    EXPECT_FALSE(std::string(e.what()).empty());
  }
  // The messages say what is wrong and what is allowed.
  EXPECT_NE(std::string(ErrorOf(R"({"prompt":[257]})").what()).find("[0, 257)"), std::string::npos);
  EXPECT_NE(std::string(ErrorOf(too_long).what()).find("context"), std::string::npos);
  EXPECT_EQ(ErrorOf(too_long).code(), "context_length_exceeded");
  EXPECT_NE(
      std::string(ErrorOf(R"({"prompt":"x","echo":true,"logprobs":1})").what()).find("prompt"),
      std::string::npos);
}

TEST(CompletionSchema, APromptMayFillTheContextButOne) {
  const std::string prompt(63, 'a');
  EXPECT_EQ(Parse(R"({"prompt":")" + prompt + "\"}").prompts[0].ids.size(), 63u);
  // Six prompts of one choice each: the most a request may have here.
  EXPECT_EQ(Parse(R"({"prompt":["a","b","c","d","e","f"]})").prompts.size(), 6u);
  EXPECT_EQ(Parse(R"({"prompt":["a","b","c"],"n":2})").prompts.size(), 3u);
}

}  // namespace
}  // namespace qwenvl::server

namespace qwenvl::server {
namespace {

TEST(CompletionSchema, StructuredOutputFieldsAsInChat) {
  auto c = Parse(R"({"prompt":"x","response_format":{"type":"json_object"}})");
  EXPECT_EQ(c.constraint.kind, OutputConstraint::Kind::kJsonObject);
  c = Parse(R"({"prompt":"x","grammar":"root ::= \"a\""})");
  EXPECT_EQ(c.constraint.kind, OutputConstraint::Kind::kGrammar);
  EXPECT_EQ(Parse(R"({"prompt":"x"})").constraint.kind, OutputConstraint::Kind::kNone);
  try {
    Parse(R"({"prompt":"x","json_schema":{"type":"integer","minimum":0}})");
    ADD_FAILURE() << "accepted an unenforceable schema";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.param(), "json_schema");
  }
}

}  // namespace
}  // namespace qwenvl::server
