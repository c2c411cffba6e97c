// generation_config.json: defaults read, eos ids merged with config.json's, bad values refused
// with the file named.
#include "runtime/generation_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "util/error.h"

namespace qwenvl::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string ErrorOf(const std::string& text) {
  try {
    ParseGenerationDefaults(text, "gen.json", {151645});
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruptFile);
    return e.what();
  }
  ADD_FAILURE() << text << " was accepted";
  return "";
}

TEST(GenerationConfig, ReadsDefaultsAndMergesEosIds) {
  const GenerationDefaults g = ParseGenerationDefaults(
      R"({"do_sample": true, "temperature": 0.7, "top_k": 20, "top_p": 0.8,
          "repetition_penalty": 1.05, "eos_token_id": [151645, 151643]})",
      "gen.json", {151645});
  EXPECT_TRUE(g.do_sample);
  EXPECT_FLOAT_EQ(g.temperature, 0.7f);
  EXPECT_EQ(g.top_k, 20);
  EXPECT_FLOAT_EQ(g.top_p, 0.8f);
  EXPECT_FLOAT_EQ(g.repetition_penalty, 1.05f);
  EXPECT_THAT(g.eos_token_ids, ElementsAre(151645, 151643));  // no duplicate
  EXPECT_THAT(ParseGenerationDefaults(R"({"eos_token_id": 7})", "gen.json", {}).eos_token_ids,
              ElementsAre(7));
}

TEST(GenerationConfig, EosIdsBeyondTheTokenIdTypeAreRefusedNotWrapped) {
  // 4294967297 narrowed to 32 bits would be 1; 2^64 − 1 read as a signed integer would be −1.
  EXPECT_THAT(ErrorOf(R"({"eos_token_id": 4294967297})"),
              HasSubstr("gen.json: eos_token_id holds 4294967297"));
  EXPECT_THAT(ErrorOf(R"({"eos_token_id": [151643, 18446744073709551615]})"),
              HasSubstr("eos_token_id holds 18446744073709551615"));
  EXPECT_THAT(ErrorOf(R"({"eos_token_id": -2147483649})"), HasSubstr("outside the range"));
}

TEST(GenerationConfig, MalformedFilesAreCorrupt) {
  EXPECT_THAT(ErrorOf("[1, 2]"), HasSubstr("not a JSON object"));
  EXPECT_THAT(ErrorOf("{"), HasSubstr("not a JSON object"));
  EXPECT_THAT(ErrorOf(R"({"temperature": "hot"})"), HasSubstr("temperature must be a number"));
  EXPECT_THAT(ErrorOf(R"({"top_p": 0})"), HasSubstr("gen.json"));
}

}  // namespace
}  // namespace qwenvl::runtime
