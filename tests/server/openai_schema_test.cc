#include "server/openai_schema.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>

#include "server/api_error.h"
#include "server/generation_schema.h"

namespace qwenvl::server {
namespace {

SchemaOptions Options() {
  SchemaOptions o;
  o.model_name = "m";
  o.served_names = {"m", "alias"};
  o.max_choices = 8;
  o.context_length = 1000;
  o.max_media_items = 2;
  o.max_image_pixels = 1000000;
  return o;
}

// "data:image/png;base64,AAEC" decodes to {0, 1, 2}.
const char* kImagePart = R"({"type":"image_url","image_url":{"url":"data:image/png;base64,AAEC"}})";

std::string WithUser(const std::string& content, const std::string& extra = "") {
  return R"({"model":"m","messages":[{"role":"user","content":)" + content + "}]" + extra + "}";
}

// Parses `body` and returns the ApiError it raised (status 0 if none).
ApiError ErrorOf(const std::string& body, const SchemaOptions& options = Options()) {
  try {
    ParseChatRequest(body, options);
  } catch (const ApiError& e) {
    return e;
  }
  return ApiError(0, "no error");
}

TEST(OpenAiSchema, ParsesTextImageAndSampling) {
  const auto chat = ParseChatRequest(
      WithUser(std::string("[") + kImagePart + R"(,{"type":"text","text":"What is it?"}])",
               R"(,"max_tokens":12,"temperature":0.5,"top_p":0.9,"seed":7,"stop":["a","b"],)"
               R"("presence_penalty":0.5,"frequency_penalty":-0.5,"stream":true,)"
               R"("stream_options":{"include_usage":true},"n":1)"),
      Options());
  EXPECT_TRUE(chat.stream);
  EXPECT_TRUE(chat.include_usage);
  ASSERT_EQ(chat.request.messages.size(), 1u);
  const auto& parts = chat.request.messages[0].content;
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].type, ContentPart::Type::kMedia);
  EXPECT_EQ(parts[0].media.kind, Media::Kind::kImage);
  EXPECT_EQ(parts[0].media.bytes, (std::vector<uint8_t>{0, 1, 2}));
  EXPECT_EQ(parts[1].text, "What is it?");
  const auto& s = chat.request.sampling;
  EXPECT_EQ(s.max_new_tokens, 12);
  EXPECT_FLOAT_EQ(*s.temperature, 0.5f);
  EXPECT_FLOAT_EQ(*s.top_p, 0.9f);
  EXPECT_EQ(*s.seed, 7u);
  EXPECT_EQ(s.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_FLOAT_EQ(s.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(s.frequency_penalty, -0.5f);
}

TEST(OpenAiSchema, StringContentRolesAndStopString) {
  const auto chat = ParseChatRequest(
      R"({"messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":"Hi"},)"
      R"({"role":"assistant","content":null},{"role":"user","content":"Again"}],"stop":"x",)"
      R"("max_completion_tokens":3})",
      Options());
  ASSERT_EQ(chat.request.messages.size(), 4u);
  EXPECT_EQ(chat.request.messages[0].role, "system");
  EXPECT_TRUE(chat.request.messages[2].content.empty());
  EXPECT_EQ(chat.request.sampling.stop, std::vector<std::string>{"x"});
  EXPECT_EQ(chat.request.sampling.max_new_tokens, 3);
  EXPECT_FALSE(chat.stream);
}

TEST(OpenAiSchema, PixelKeysOnThePartOrTheUrlObject) {
  const auto chat = ParseChatRequest(
      WithUser(
          R"([{"type":"image_url","min_pixels":3136,"image_url":)"
          R"({"url":"data:image/png;base64,AAEC","max_pixels":50176}},)"
          R"({"type":"video_url","video_url":{"url":"data:video/mp4;base64,AAEC"},"fps":1.0}])"),
      Options());
  const auto& parts = chat.request.messages[0].content;
  EXPECT_EQ(*parts[0].media.min_pixels, 3136);
  EXPECT_EQ(*parts[0].media.max_pixels, 50176);
  EXPECT_EQ(parts[1].media.kind, Media::Kind::kVideo);
  EXPECT_DOUBLE_EQ(*parts[1].media.fps, 1.0);
}

TEST(OpenAiSchema, VideoAsFrameListWritesTemporaryFiles) {
  std::string frames_dir;
  {
    const auto chat =
        ParseChatRequest(WithUser(R"([{"type":"video","video":["data:image/png;base64,AAEC",)"
                                  R"("data:image/png;base64,AAED"]}])"),
                         Options());
    const auto& media = chat.request.messages[0].content[0].media;
    EXPECT_EQ(media.kind, Media::Kind::kVideo);
    ASSERT_EQ(media.frame_paths.size(), 2u);
    EXPECT_TRUE(std::filesystem::exists(media.frame_paths[1]));
    EXPECT_EQ(std::filesystem::file_size(media.frame_paths[1]), 3u);
    frames_dir = std::filesystem::path(media.frame_paths[0]).parent_path();
  }
  EXPECT_FALSE(std::filesystem::exists(frames_dir));  // removed with the request
}

TEST(OpenAiSchema, LocalFilesOnlyWhenAllowed) {
  const auto path = std::filesystem::temp_directory_path() / "qwenvl_schema_test.png";
  std::ofstream(path) << "x";
  const std::string body =
      WithUser(R"([{"type":"image_url","image_url":{"url":"file://)" + path.string() + R"("}}])");
  EXPECT_EQ(ErrorOf(body).code(), "local_files_disabled");
  auto options = Options();
  options.media.local_root = path.parent_path();
  EXPECT_EQ(ParseChatRequest(body, options).request.messages[0].content[0].media.bytes,
            std::vector<uint8_t>{'x'});
  EXPECT_EQ(ErrorOf(WithUser(R"([{"type":"image","image":"/no/such/file.png"}])"), options).code(),
            "file_not_found");
  std::filesystem::remove(path);
}

TEST(OpenAiSchema, RemoteUrlsOnlyWhenAllowed) {
  const std::string body = WithUser(R"([{"type":"image_url","image_url":"http://x/y.png"}])");
  EXPECT_EQ(ErrorOf(body).code(), "remote_urls_disabled");
  auto options = Options();
  options.media.allow_remote_urls = true;
  options.media.fetch_url = [](const std::string& url) {
    EXPECT_EQ(url, "http://x/y.png");
    return std::vector<uint8_t>{9};
  };
  EXPECT_EQ(ParseChatRequest(body, options).request.messages[0].content[0].media.bytes,
            std::vector<uint8_t>{9});
}

struct ErrorCase {
  const char* name;
  std::string body;
  int status;
  std::string param;
};

TEST(OpenAiSchema, EveryErrorCase) {
  const std::string img = kImagePart;
  const std::vector<ErrorCase> cases = {
      {"malformed json", "{\"messages\": [", 400, ""},
      {"not an object", "[1,2]", 400, "body"},
      {"no messages", R"({"model":"m"})", 400, "messages"},
      {"messages not a list", R"({"messages":"hi"})", 400, "messages"},
      {"empty messages", R"({"messages":[]})", 400, "messages"},
      {"message not object", R"({"messages":[5]})", 400, "messages[0]"},
      {"no role", R"({"messages":[{"content":"x"}]})", 400, "messages[0].role"},
      {"bad role", R"({"messages":[{"role":"function","content":"x"}]})", 400, "messages[0].role"},
      {"no content", R"({"messages":[{"role":"user"}]})", 400, "messages[0].content"},
      {"content number", WithUser("5"), 400, "messages[0].content"},
      {"part not object", WithUser("[1]"), 400, "messages[0].content[0]"},
      {"part without type", WithUser(R"([{"text":"x"}])"), 400, "messages[0].content[0].type"},
      {"unknown part type", WithUser(R"([{"type":"audio"}])"), 400, "messages[0].content[0].type"},
      {"text not string", WithUser(R"([{"type":"text","text":3}])"), 400,
       "messages[0].content[0].text"},
      {"image_url missing", WithUser(R"([{"type":"image_url"}])"), 400,
       "messages[0].content[0].image_url"},
      {"url not string", WithUser(R"([{"type":"image_url","image_url":{"url":1}}])"), 400,
       "messages[0].content[0].image_url.url"},
      {"bad base64", WithUser(R"([{"type":"image_url","image_url":"data:image/png;base64,*"}])"),
       400, "messages[0].content[0].image_url"},
      {"not base64 data uri", WithUser(R"([{"type":"image_url","image_url":"data:text/plain,x"}])"),
       400, "messages[0].content[0].image_url"},
      {"relative path", WithUser(R"([{"type":"image_url","image_url":"cat.png"}])"), 400,
       "messages[0].content[0].image_url"},
      {"too many images", WithUser("[" + img + "," + img + "," + img + "]"), 400,
       "messages[0].content"},
      {"max_pixels over budget",
       WithUser(R"([{"type":"image_url","max_pixels":99999999,"image_url":"data:i;base64,AA"}])"),
       400, "messages[0].content[0].max_pixels"},
      {"min over max",
       WithUser(
           R"([{"type":"image","min_pixels":900,"max_pixels":800,"image":"data:i;base64,AA"}])"),
       400, "messages[0].content[0].min_pixels"},
      {"max_pixels wrong type",
       WithUser(R"([{"type":"image","max_pixels":"big","image":"data:i;base64,AA"}])"), 400,
       "messages[0].content[0].max_pixels"},
      {"resized area over budget",
       WithUser(R"([{"type":"image","resized_height":2000,"resized_width":2000,)"
                R"("image":"data:i;base64,AA"}])"),
       400, "messages[0].content[0].resized_height"},
      {"one frame video", WithUser(R"([{"type":"video","video":["data:i;base64,AA"]}])"), 400,
       "messages[0].content[0].video"},
      {"unknown model", R"({"model":"gpt-4","messages":[{"role":"user","content":"x"}]})", 404,
       "model"},
      {"model not string", R"({"model":1,"messages":[{"role":"user","content":"x"}]})", 400,
       "model"},
      {"n over the limit", WithUser("\"x\"", R"(,"n":9)"), 400, "n"},
      {"n zero", WithUser("\"x\"", R"(,"n":0)"), 400, "n"},
      {"n string", WithUser("\"x\"", R"(,"n":"2")"), 400, "n"},
      {"n float", WithUser("\"x\"", R"(,"n":2.0)"), 400, "n"},
      {"max_tokens string", WithUser("\"x\"", R"(,"max_tokens":"5")"), 400, "max_tokens"},
      {"max_tokens zero", WithUser("\"x\"", R"(,"max_tokens":0)"), 400, "max_tokens"},
      {"max_tokens over context", WithUser("\"x\"", R"(,"max_tokens":5000)"), 400, "max_tokens"},
      {"max_tokens float", WithUser("\"x\"", R"(,"max_tokens":1.5)"), 400, "max_tokens"},
      {"temperature high", WithUser("\"x\"", R"(,"temperature":3)"), 400, "temperature"},
      {"temperature string", WithUser("\"x\"", R"(,"temperature":"hot")"), 400, "temperature"},
      {"top_p high", WithUser("\"x\"", R"(,"top_p":1.5)"), 400, "top_p"},
      {"presence high", WithUser("\"x\"", R"(,"presence_penalty":2.5)"), 400, "presence_penalty"},
      {"frequency low", WithUser("\"x\"", R"(,"frequency_penalty":-3)"), 400, "frequency_penalty"},
      {"seed float", WithUser("\"x\"", R"(,"seed":1.5)"), 400, "seed"},
      {"stop number", WithUser("\"x\"", R"(,"stop":5)"), 400, "stop"},
      {"stop list of numbers", WithUser("\"x\"", R"(,"stop":[5])"), 400, "stop[]"},
      {"stream not bool", WithUser("\"x\"", R"(,"stream":"yes")"), 400, "stream"},
      {"stream_options not object", WithUser("\"x\"", R"(,"stream_options":1)"), 400,
       "stream_options"},
      {"include_usage not bool", WithUser("\"x\"", R"(,"stream_options":{"include_usage":1})"), 400,
       "stream_options.include_usage"},
      {"logprobs not bool", WithUser("\"x\"", R"(,"logprobs":1)"), 400, "logprobs"},
      {"top_logprobs without logprobs", WithUser("\"x\"", R"(,"top_logprobs":2)"), 400,
       "top_logprobs"},
      {"top_logprobs with logprobs false",
       WithUser("\"x\"", R"(,"logprobs":false,"top_logprobs":2)"), 400, "top_logprobs"},
      {"top_logprobs over 20", WithUser("\"x\"", R"(,"logprobs":true,"top_logprobs":21)"), 400,
       "top_logprobs"},
      {"top_logprobs negative", WithUser("\"x\"", R"(,"logprobs":true,"top_logprobs":-1)"), 400,
       "top_logprobs"},
      {"top_logprobs float", WithUser("\"x\"", R"(,"logprobs":true,"top_logprobs":1.5)"), 400,
       "top_logprobs"},
      {"logit_bias set", WithUser("\"x\"", R"(,"logit_bias":{"50256":-100})"), 400, "logit_bias"},
      {"logit_bias not object", WithUser("\"x\"", R"(,"logit_bias":[1])"), 400, "logit_bias"},
      {"tools not a list", WithUser("\"x\"", R"(,"tools":{})"), 400, "tools"},
  };
  for (const auto& c : cases) {
    const ApiError e = ErrorOf(c.body);
    EXPECT_EQ(e.status(), c.status) << c.name << ": " << e.what();
    EXPECT_EQ(e.param(), c.param) << c.name << ": " << e.what();
    const auto j = e.ToJson();
    EXPECT_TRUE(j["error"]["message"].is_string()) << c.name;
    EXPECT_TRUE(j["error"]["type"].is_string()) << c.name;
    EXPECT_TRUE(j["error"].contains("param") && j["error"].contains("code")) << c.name;
  }
}

struct RangeCase {
  std::string body;
  std::string param;
  std::string range;  // as the message states it
};

// Every value here is outside its field's range or of the wrong kind; none may be narrowed into
// range (4294967297 as an int is 1, 2^64 - 1 as an int64 is -1, -1 as a uint64 is 2^64 - 1).
TEST(OpenAiSchema, NumbersOutOfRangeAreRejectedNotWrapped) {
  const auto image = [](const std::string& keys) {
    return WithUser(R"([{"type":"image","image":"data:i;base64,AA",)" + keys + "}]");
  };
  const auto video = [](const std::string& keys) {
    return WithUser(R"([{"type":"video","video":"data:v;base64,AA",)" + keys + "}]");
  };
  const auto sampling = [](const std::string& field) { return WithUser("\"x\"", "," + field); };
  const std::string part = "messages[0].content[0].";
  const std::vector<RangeCase> cases = {
      {sampling(R"("top_k":4294967297)"), "top_k", "[-1, 1048576]"},
      {sampling(R"("top_k":4294967295)"), "top_k", "[-1, 1048576]"},
      {sampling(R"("top_k":-4294967295)"), "top_k", "[-1, 1048576]"},
      {sampling(R"("top_k":1048577)"), "top_k", "[-1, 1048576]"},
      {sampling(R"("top_k":2.5)"), "top_k", "[-1, 1048576]"},
      {sampling(R"("top_k":true)"), "top_k", "[-1, 1048576]"},
      {sampling(R"("max_tokens":18446744073709551615)"), "max_tokens", "[1, 1000]"},
      {sampling(R"("max_tokens":18446744073709551616)"), "max_tokens", "[1, 1000]"},
      {sampling(R"("max_tokens":true)"), "max_tokens", "[1, 1000]"},
      {sampling(R"("max_tokens":3.0)"), "max_tokens", "[1, 1000]"},
      {sampling(R"("max_completion_tokens":-1)"), "max_completion_tokens", "[1, 1000]"},
      {sampling(R"("max_completion_tokens":5,"max_tokens":0)"), "max_tokens", "[1, 1000]"},
      {sampling(R"("seed":-1)"), "seed", "[0, 18446744073709551615]"},
      {sampling(R"("seed":18446744073709551616)"), "seed", "[0, 18446744073709551615]"},
      {sampling(R"("temperature":1e300)"), "temperature", "[0, 2]"},
      {sampling(R"("temperature":-0.5)"), "temperature", "[0, 2]"},
      {sampling(R"("temperature":false)"), "temperature", "[0, 2]"},
      {sampling(R"("top_p":0)"), "top_p", "(0, 1]"},
      {sampling(R"("top_p":-1e300)"), "top_p", "(0, 1]"},
      {sampling(R"("min_p":1.5)"), "min_p", "[0, 1]"},
      {sampling(R"("repetition_penalty":0)"), "repetition_penalty", "[0.01, 10]"},
      {sampling(R"("repetition_penalty":1e39)"), "repetition_penalty", "[0.01, 10]"},
      {sampling(R"("presence_penalty":-1e39)"), "presence_penalty", "[-2, 2]"},
      {sampling(R"("frequency_penalty":18446744073709551615)"), "frequency_penalty", "[-2, 2]"},
      {image(R"("min_pixels":18446744073709551615)"), part + "min_pixels", "[1, 1000000]"},
      {image(R"("max_pixels":-18446744073709551615)"), part + "max_pixels", "[1, 1000000]"},
      {image(R"("max_pixels":1000.5)"), part + "max_pixels", "[1, 1000000]"},
      {image(R"("resized_height":4294967297,"resized_width":1)"), part + "resized_height",
       "[1, 32768]"},
      {image(R"("resized_width":0)"), part + "resized_width", "[1, 32768]"},
      {video(R"("fps":0)"), part + "fps", "[0.001, 240]"},
      {video(R"("fps":1e308)"), part + "fps", "[0.001, 240]"},
      {video(R"("nframes":4294967298)"), part + "nframes", "[2, 768]"},
      {video(R"("min_frames":4294967297)"), part + "min_frames", "[2, 768]"},
      {video(R"("min_frames":1)"), part + "min_frames", "[2, 768]"},
      {video(R"("max_frames":-4294967295)"), part + "max_frames", "[2, 768]"},
      {video(R"("max_frames":true)"), part + "max_frames", "[2, 768]"},
      {video(R"("total_pixels":0)"), part + "total_pixels", "[1, 768000000]"},
      {video(R"("total_pixels":768000001)"), part + "total_pixels", "[1, 768000000]"},
      {WithUser(R"([{"type":"video_url","video_url":{"url":"data:v;base64,AA",)"
                R"("nframes":18446744073709551615}}])"),
       part + "video_url.nframes", "[2, 768]"},
  };
  for (const auto& c : cases) {
    const ApiError e = ErrorOf(c.body);
    EXPECT_EQ(e.status(), 400) << c.body << ": " << e.what();
    EXPECT_EQ(e.param(), c.param) << c.body << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(c.range), std::string::npos)
        << c.body << ": the message should state the range " << c.range << ": " << e.what();
  }
}

TEST(OpenAiSchema, NumbersAtTheEdgesOfTheirRanges) {
  auto chat = ParseChatRequest(
      WithUser("\"x\"", R"(,"top_k":1048576,"seed":18446744073709551615,"max_tokens":1000,)"
                        R"("temperature":2,"top_p":1,"min_p":0,"repetition_penalty":0.01,)"
                        R"("presence_penalty":-2,"frequency_penalty":2)"),
      Options());
  const auto& s = chat.request.sampling;
  EXPECT_EQ(*s.top_k, 1 << 20);
  EXPECT_EQ(*s.seed, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(s.max_new_tokens, 1000);
  EXPECT_FLOAT_EQ(*s.temperature, 2.0f);
  EXPECT_FLOAT_EQ(*s.top_p, 1.0f);
  EXPECT_FLOAT_EQ(*s.min_p, 0.0f);
  EXPECT_FLOAT_EQ(*s.repetition_penalty, 0.01f);
  EXPECT_FLOAT_EQ(s.presence_penalty, -2.0f);
  EXPECT_FLOAT_EQ(s.frequency_penalty, 2.0f);

  // -1 turns top-k off as 0 does: the sampler takes only 0 for that.
  EXPECT_EQ(
      *ParseChatRequest(WithUser("\"x\"", R"(,"top_k":-1)"), Options()).request.sampling.top_k, 0);
  // max_completion_tokens wins over max_tokens.
  EXPECT_EQ(
      ParseChatRequest(WithUser("\"x\"", R"(,"max_completion_tokens":7,"max_tokens":9)"), Options())
          .request.sampling.max_new_tokens,
      7);

  chat = ParseChatRequest(
      WithUser(R"([{"type":"video","video":"data:v;base64,AA","nframes":768,"min_frames":2,)"
               R"("max_frames":768,"total_pixels":768000000,"fps":240,"min_pixels":1,)"
               R"("max_pixels":1000000,"resized_height":1000,"resized_width":1000}])"),
      Options());
  const auto& m = chat.request.messages[0].content[0].media;
  EXPECT_EQ(*m.nframes, 768);
  EXPECT_EQ(*m.min_frames, 2);
  EXPECT_EQ(*m.max_frames, 768);
  EXPECT_EQ(*m.total_pixels, 768000000);
  EXPECT_DOUBLE_EQ(*m.fps, 240.0);
  EXPECT_EQ(*m.min_pixels, 1);
  EXPECT_EQ(*m.max_pixels, 1000000);
  EXPECT_EQ(*m.resized_height, 1000);

  EXPECT_EQ(ErrorOf(WithUser(R"([{"type":"video","video":"data:v;base64,AA","min_frames":8,)"
                             R"("max_frames":4}])"))
                .param(),
            "messages[0].content[0].min_frames");
  EXPECT_EQ(ErrorOf(WithUser("\"x\"", R"(,"n":18446744073709551615)")).param(), "n");
  EXPECT_EQ(ErrorOf(WithUser("\"x\"", R"(,"n":4294967297)")).param(), "n");
}

TEST(OpenAiSchema, LogprobsNChoicesAndModelNames) {
  auto chat =
      ParseChatRequest(WithUser("\"x\"", R"(,"n":8,"logprobs":true,"top_logprobs":20)"), Options());
  EXPECT_EQ(chat.n, 8);
  EXPECT_EQ(chat.request.sampling.logprobs, 20);
  chat = ParseChatRequest(WithUser("\"x\"", R"(,"logprobs":true)"), Options());
  EXPECT_EQ(chat.request.sampling.logprobs, 0);  // the chosen tokens, no alternatives
  chat = ParseChatRequest(WithUser("\"x\"", R"(,"logprobs":false,"logit_bias":{})"), Options());
  EXPECT_EQ(chat.request.sampling.logprobs, -1);
  EXPECT_EQ(chat.n, 1);

  // Every served name is accepted, and echoed; absent and empty names too.
  for (const char* model : {R"("m")", R"("alias")", R"("")", "null"}) {
    chat = ParseChatRequest(
        std::string(R"({"model":)") + model + R"(,"messages":[{"role":"user","content":"x"}]})",
        Options());
  }
  EXPECT_EQ(
      ParseChatRequest(R"({"model":"alias","messages":[{"role":"user","content":"x"}]})", Options())
          .model,
      "alias");
  // Without served names, any name is.
  SchemaOptions any = Options();
  any.served_names.clear();
  chat = ParseChatRequest(
      R"({"model":"Qwen/Qwen2.5-VL-3B-Instruct","messages":[{"role":"user","content":"x"}]})", any);
  EXPECT_EQ(chat.model, "Qwen/Qwen2.5-VL-3B-Instruct");
  EXPECT_TRUE(ModelAccepted("anything", any));
  EXPECT_FALSE(ModelAccepted("anything", Options()));
  EXPECT_TRUE(ModelAccepted("", Options()));
  // The limit of choices is stated.
  const ApiError e = ErrorOf(WithUser("\"x\"", R"(,"n":9)"));
  EXPECT_NE(std::string(e.what()).find("8"), std::string::npos) << e.what();
  EXPECT_EQ(e.code(), "too_many_choices");
}

TEST(OpenAiSchema, DecodeBase64) {
  EXPECT_EQ(DecodeBase64("aGVsbG8=", "p"), (std::vector<uint8_t>{'h', 'e', 'l', 'l', 'o'}));
  EXPECT_EQ(DecodeBase64("aGVs\nbG8", "p").size(), 5u);
  EXPECT_THROW(DecodeBase64("a$", "p"), ApiError);
}

}  // namespace
}  // namespace qwenvl::server
