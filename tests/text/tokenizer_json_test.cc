// Loading tokenizer.json: both merge formats, and an Error naming the file for every bad input.
#include "text/tokenizer_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "text/tokenizer.h"
#include "util/error.h"

namespace qwenvl::text {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A small byte-level BPE tokenizer.json; `merges` and `extra` are spliced in as JSON text.
std::string TinyJson(const std::string& merges, const std::string& model_extra = "",
                     const std::string& behavior = "Isolated") {
  std::string vocab;
  for (char c = 'a'; c <= 'z'; ++c)
    vocab += "\"" + std::string(1, c) + "\": " + std::to_string(c - 'a') + ", ";
  return R"({"version": "1.0", "added_tokens": [{"id": 30, "content": "<|end|>", "special": true}],
    "normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "\\p{L}+|\\s+"}, "behavior": ")" +
         behavior + R"(", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "dropout": null, )" +
         model_extra + R"( "vocab": {)" + vocab +
         R"("Ġ": 26, "ab": 27, "abc": 28, "Ġa": 29}, "merges": )" + merges + "}}";
}

std::string WriteTemp(const std::string& name, const std::string& content) {
  const auto path = std::filesystem::temp_directory_path() / ("qwenvl_tok_" + name);
  std::ofstream(path) << content;
  return path.string();
}

ErrorCode LoadError(const std::string& path, std::string* message) {
  try {
    Tokenizer::FromFile(path);
  } catch (const Error& e) {
    *message = e.what();
    return e.code();
  }
  ADD_FAILURE() << path << " loaded";
  return ErrorCode::kInternal;
}

TEST(TokenizerJson, AcceptsBothMergeForms) {
  for (const std::string merges :
       {R"(["a b", "ab c", "Ġ a"])", R"([["a","b"],["ab","c"],["Ġ","a"]])"}) {
    const Tokenizer tok = Tokenizer::FromFile(WriteTemp("merges.json", TinyJson(merges)));
    // The Split regex keeps the space apart from "abd", so "Ġa" never forms.
    EXPECT_THAT(tok.Encode("abc abd<|end|>"), ElementsAre(28, 26, 27, 3, 30));
    EXPECT_THAT(tok.Encode("abcabc"), ElementsAre(28, 28));
    EXPECT_EQ(tok.Decode(tok.Encode("abc abd<|end|>")), "abc abd<|end|>");
    EXPECT_EQ(tok.vocab_size(), 31);
  }
}

TEST(TokenizerJson, ReadsTheSplitRegexFromTheFile) {
  const TokenizerSpec spec = ParseTokenizerJson(TinyJson("[]"), "tiny");
  EXPECT_EQ(spec.split_pattern, "\\p{L}+|\\s+");
  EXPECT_TRUE(spec.nfc);
  ASSERT_EQ(spec.added_tokens.size(), 1u);
  EXPECT_TRUE(spec.added_tokens[0].special);
}

TEST(TokenizerJson, MissingFileIsNotFound) {
  std::string message;
  EXPECT_EQ(LoadError("/nonexistent/dir/tokenizer.json", &message), ErrorCode::kNotFound);
  EXPECT_THAT(message, HasSubstr("/nonexistent/dir/tokenizer.json"));
  try {
    Tokenizer::FromModelDir("/nonexistent/model");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/model/tokenizer.json"));
  }
}

TEST(TokenizerJson, MalformedJsonIsCorrupt) {
  std::string message;
  const std::string path = WriteTemp("bad.json", "{\"model\": {\"vocab\": ");
  EXPECT_EQ(LoadError(path, &message), ErrorCode::kCorruptFile);
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, HasSubstr("malformed JSON"));
  EXPECT_EQ(LoadError(WriteTemp("array.json", "[1, 2]"), &message), ErrorCode::kCorruptFile);
  EXPECT_EQ(LoadError(WriteTemp("nomodel.json", R"({"decoder": null})"), &message),
            ErrorCode::kCorruptFile);
  EXPECT_EQ(LoadError(WriteTemp("badmerge.json", TinyJson(R"(["a b c"])")), &message),
            ErrorCode::kCorruptFile);
  EXPECT_EQ(LoadError(WriteTemp("unknown.json", TinyJson(R"(["a q9"])")), &message),
            ErrorCode::kCorruptFile);
  EXPECT_THAT(message, HasSubstr("merge #0"));
}

TEST(TokenizerJson, BadVocabOrMergesShapeIsCorrupt) {
  std::string message;
  EXPECT_EQ(LoadError(WriteTemp("triple.json", TinyJson(R"([["a","b","c"]])")), &message),
            ErrorCode::kCorruptFile);
  EXPECT_THAT(message, HasSubstr("model.merges"));
  EXPECT_EQ(LoadError(WriteTemp("nummerge.json", TinyJson("[1]")), &message),
            ErrorCode::kCorruptFile);
  std::string vocab_string = TinyJson("[]");
  vocab_string.replace(vocab_string.find("\"a\": 0"), 6, "\"a\": \"0\"");
  EXPECT_EQ(LoadError(WriteTemp("vocabstr.json", vocab_string), &message), ErrorCode::kCorruptFile);
  std::string no_merges = TinyJson("[]");
  no_merges.replace(no_merges.find("\"merges\""), 8, "\"merged\"");
  EXPECT_EQ(LoadError(WriteTemp("nomerges.json", no_merges), &message), ErrorCode::kCorruptFile);
  EXPECT_THAT(message, HasSubstr("model.merges is missing"));
}

TEST(TokenizerJson, AddedTokenIdsBeyondTheTokenIdTypeAreCorrupt) {
  // 4294967326 narrowed to 32 bits would be 30, the id of a real token.
  std::string huge = TinyJson("[]");
  huge.replace(huge.find("\"id\": 30"), 8, "\"id\": 4294967326");
  std::string message;
  EXPECT_EQ(LoadError(WriteTemp("hugeid.json", huge), &message), ErrorCode::kCorruptFile);
  EXPECT_THAT(message, HasSubstr("beyond the token id range"));
}

TEST(TokenizerJson, OtherPipelinesAreUnsupported) {
  std::string message;
  std::string wordpiece = TinyJson("[]");
  wordpiece.replace(wordpiece.find("\"BPE\""), 5, "\"WordPiece\"");
  const std::string path = WriteTemp("wordpiece.json", wordpiece);
  EXPECT_EQ(LoadError(path, &message), ErrorCode::kUnsupported);
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, HasSubstr("WordPiece"));
  EXPECT_EQ(
      LoadError(WriteTemp("fallback.json", TinyJson("[]", R"("byte_fallback": true,)")), &message),
      ErrorCode::kUnsupported);
  EXPECT_EQ(LoadError(WriteTemp("removed.json", TinyJson("[]", "", "Removed")), &message),
            ErrorCode::kUnsupported);
  EXPECT_THAT(message, HasSubstr("Removed"));
}

TEST(TokenizerJson, BadRegexIsCorrupt) {
  std::string json = TinyJson("[]");
  json.replace(json.find("\\\\p{L}+"), 7, "(unclosed");
  std::string message;
  EXPECT_EQ(LoadError(WriteTemp("regex.json", json), &message), ErrorCode::kCorruptFile);
  EXPECT_THAT(message, HasSubstr("regex"));
}

}  // namespace
}  // namespace qwenvl::text
