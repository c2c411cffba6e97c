// ChatTemplate against transformers' rendering of the Qwen2.5-VL template
// (tests/data/chat_template/cases.json, from fixtures/chat_template) and its loading rules.
#include "text/chat_template.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "util/error.h"

namespace qwenvl::text {
namespace {

const std::string kModelDir = std::string(QWENVL_TEST_DATA) + "/qwen2.5-vl-3b-instruct";

nlohmann::json LoadJson(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return nlohmann::json::parse(in);
}

TEST(ChatTemplate, MatchesTransformersOnEveryFixtureCase) {
  ChatTemplate t = ChatTemplate::FromModelDir(kModelDir);
  nlohmann::json cases =
      LoadJson(std::string(QWENVL_TEST_DATA) + "/chat_template/cases.json")["cases"];
  ASSERT_EQ(cases.size(), 16u);
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    ChatTemplateOptions opts;
    opts.add_generation_prompt = cases[i]["add_generation_prompt"].get<bool>();
    opts.add_vision_id = cases[i]["add_vision_id"].get<bool>();
    EXPECT_EQ(t.Render(cases[i]["messages"], opts), cases[i]["text"].get<std::string>());
  }
}

TEST(ChatTemplate, ReadmeExample) {
  // model-spec §8.3: one image + "Describe this image." with a generation prompt.
  ChatTemplate t = ChatTemplate::FromModelDir(kModelDir);
  nlohmann::json messages = nlohmann::json::parse(
      R"([{"role":"user","content":[{"type":"image"},{"type":"text","text":"Describe this image."}]}])");
  ChatTemplateOptions opts;
  opts.add_generation_prompt = true;
  EXPECT_EQ(t.Render(messages, opts),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
            "<|vision_start|><|image_pad|><|vision_end|>Describe this image.<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplate, ImageUrlAndVideoPartsAndCountersAcrossTurns) {
  ChatTemplate t = ChatTemplate::FromModelDir(kModelDir);
  nlohmann::json messages = nlohmann::json::parse(R"([
    {"role":"user","content":[{"type":"image_url","image_url":{"url":"a.png"}},{"type":"video"}]},
    {"role":"assistant","content":"ok"},
    {"role":"user","content":[{"type":"image"},{"type":"video","video":"v.mp4"}]}])");
  ChatTemplateOptions opts;
  opts.add_vision_id = true;
  EXPECT_EQ(t.Render(messages, opts),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
            "Picture 1: <|vision_start|><|image_pad|><|vision_end|>"
            "Video 1: <|vision_start|><|video_pad|><|vision_end|><|im_end|>\n"
            "<|im_start|>assistant\nok<|im_end|>\n<|im_start|>user\n"
            "Picture 2: <|vision_start|><|image_pad|><|vision_end|>"
            "Video 2: <|vision_start|><|video_pad|><|vision_end|><|im_end|>\n");
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("qwenvl_chat_template_" + std::to_string(reinterpret_cast<uintptr_t>(this)));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name) << text;
    return path_.string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

TEST(ChatTemplate, FallsBackToTokenizerConfigAndPassesSpecialTokens) {
  TempDir dir;
  dir.Write("tokenizer_config.json", R"({"bos_token": {"content": "<s>", "lstrip": false},
      "eos_token": "</s>", "unk_token": null,
      "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}[{{ unk_token is defined }}]"})");
  ChatTemplate t = ChatTemplate::FromModelDir(dir.path());
  EXPECT_EQ(t.Render(nlohmann::json::parse(R"([{"role":"user","content":"hi"}])"), {}),
            "<s>hi</s>[False]");
}

TEST(ChatTemplate, TemplateListTakesDefault) {
  TempDir dir;
  dir.Write("tokenizer_config.json", R"({"chat_template": [
      {"name": "tool_use", "template": "tools"}, {"name": "default", "template": "plain"}]})");
  EXPECT_EQ(ChatTemplate::FromModelDir(dir.path()).Render(nlohmann::json::array(), {}), "plain");
  // Entries whose name is not a string are passed over, not a JSON library exception.
  dir.Write("tokenizer_config.json", R"({"chat_template": [
      {"name": 7, "template": "seven"}, {"name": {"a": 1}}, {"name": "default", "template": "plain"}]})");
  EXPECT_EQ(ChatTemplate::FromModelDir(dir.path()).Render(nlohmann::json::array(), {}), "plain");
  dir.Write("tokenizer_config.json",
            R"({"chat_template": [{"name": ["default"], "template": "x"}]})");
  try {
    ChatTemplate::FromModelDir(dir.path());
    ADD_FAILURE() << "a list with no string name \"default\" was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound) << e.what();
  }
}

TEST(ChatTemplate, ChatTemplateJsonWinsOverTokenizerConfig) {
  TempDir dir;
  dir.Write("tokenizer_config.json", R"({"chat_template": "config", "eos_token": "E"})");
  dir.Write("chat_template.json", R"({"chat_template": "file {{ eos_token }}"})");
  EXPECT_EQ(ChatTemplate::FromModelDir(dir.path()).Render(nlohmann::json::array(), {}), "file E");
}

TEST(ChatTemplate, ErrorsNameTheProblem) {
  TempDir dir;
  try {
    ChatTemplate::FromModelDir(dir.path());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("no chat template"), std::string::npos);
  }
  dir.Write("chat_template.json", R"({"chat_template": "{% macro m() %}{% endmacro %}"})");
  try {
    ChatTemplate::FromModelDir(dir.path());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("chat_template.json: chat template line 1"),
              std::string::npos);
    EXPECT_NE(std::string(e.what()).find("macro"), std::string::npos);
  }
}

TEST(ChatTemplate, ExtraContextAndOrderedKeys) {
  ChatTemplate t =
      ChatTemplate::FromSource("{{ tools|tojson }}|{{ messages[0]|tojson }}|{{ mode }}");
  ChatTemplateOptions opts;
  opts.extra_context = {{"mode", "fast"}};
  nlohmann::ordered_json messages =
      nlohmann::ordered_json::parse(R"([{"role":"user","content":"x"}])");
  EXPECT_EQ(t.Render(messages, opts), R"(null|{"role": "user", "content": "x"}|fast)");
}

TEST(ChatTemplate, RaiseExceptionIsAnError) {
  ChatTemplate t = ChatTemplate::FromSource(
      "{% if messages|length == 0 %}{{ raise_exception('No messages') }}{% endif %}");
  try {
    t.Render(nlohmann::json::array(), {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("No messages"), std::string::npos);
  }
  EXPECT_THROW(t.Render(nlohmann::json::object(), {}), Error);  // messages must be a list
}

}  // namespace
}  // namespace qwenvl::text
