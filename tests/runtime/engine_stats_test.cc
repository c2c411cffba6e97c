// Engine::stats on the tiny random checkpoint: what a load balancer and /metrics read. The
// counters must agree with what the requests' results say happened (pictures encoded or found in
// the vision cache, prompt tokens reused from a KV cache), and the gauges with the engine's state.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <string>

#include "io/test_checkpoint.h"
#include "media/draw.h"
#include "qwenvl/engine.h"

namespace qwenvl {
namespace {

namespace fs = std::filesystem;

class EngineStatsTest : public ::testing::Test {
 protected:
  static constexpr int kParallel = 2;
  static constexpr int64_t kContext = 512;

  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("qwenvl_engine_stats_" + std::to_string(getpid())));
    fs::create_directories(*dir_);
    io::WriteTestModel(io::GetTestModelPreset("tiny"), (*dir_ / "model").string(),
                       QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct");
    media::RgbImage picture;
    picture.width = 56;
    picture.height = 56;
    picture.pixels.resize(56 * 56 * 3);
    for (size_t i = 0; i < picture.pixels.size(); ++i)
      picture.pixels[i] = static_cast<uint8_t>((i * 7) % 251);
    media::WritePng((*dir_ / "picture.png").string(), picture);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::unique_ptr<Engine> Load() {
    EngineOptions o;
    o.model_dir = (*dir_ / "model").string();
    o.threads = 2;
    o.kernels = "f32";
    o.context_length = kContext;
    o.max_parallel = kParallel;
    return Engine::Load(o);
  }
  static Request AboutThePicture(const std::string& system) {
    Request r;
    r.system_prompt = system;
    Message m;
    m.role = "user";
    ContentPart image;
    image.type = ContentPart::Type::kMedia;
    image.media.path = (*dir_ / "picture.png").string();
    m.content.push_back(image);
    m.content.push_back({ContentPart::Type::kText, "What is this?", {}});
    r.messages.push_back(m);
    r.sampling.temperature = 0.0f;
    r.sampling.max_new_tokens = 4;
    return r;
  }
  // Submits and waits for the result.
  static Result Run(Engine& engine, Request r) {
    std::promise<Result> done;
    engine.Submit(std::move(r), nullptr, [&](const Result* result, const Error* error) {
      if (result) {
        done.set_value(*result);
      } else {
        done.set_exception(std::make_exception_ptr(*error));
      }
    });
    return done.get_future().get();
  }
  static fs::path* dir_;
};
fs::path* EngineStatsTest::dir_ = nullptr;

TEST_F(EngineStatsTest, AFreshEngineHasEmptyCachesAndItsCapacity) {
  const auto engine = Load();
  const EngineStats s = engine->stats();
  EXPECT_EQ(s.requests_waiting, 0);
  EXPECT_EQ(s.requests_running, 0);
  EXPECT_EQ(s.kv_rows_used, 0);
  EXPECT_EQ(s.kv_rows_capacity, kParallel * kContext);
  EXPECT_EQ(s.vision_cache_entries, 0);
  EXPECT_EQ(s.vision_cache_bytes, 0);
  EXPECT_EQ(s.vision_cache_hits_total + s.vision_cache_misses_total, 0);
  EXPECT_EQ(s.prefix_cache_hit_tokens_total + s.prefix_cache_media_total, 0);
  EXPECT_EQ(s.prompt_tokens_total, 0);
}

TEST_F(EngineStatsTest, CountersAgreeWithTheResults) {
  const auto engine = Load();
  // 1. A picture seen the first time: encoded (a miss), kept in the vision cache.
  const Request first = AboutThePicture("System A.");
  const Result a = Run(*engine, first);
  EngineStats s = engine->stats();
  EXPECT_EQ(a.cached_media, 0);
  EXPECT_EQ(s.vision_cache_misses_total, 1);
  EXPECT_EQ(s.vision_cache_hits_total, 0);
  EXPECT_EQ(s.vision_cache_entries, 1);
  EXPECT_GT(s.vision_cache_bytes, 0);
  EXPECT_EQ(s.prompt_tokens_total, a.prompt_tokens);
  EXPECT_EQ(s.prefix_cache_hit_tokens_total, a.cached_prompt_tokens);
  // The sequence keeps the conversation for a follow-up turn: its rows are in use.
  EXPECT_GE(s.kv_rows_used, a.prompt_tokens);
  EXPECT_LE(s.kv_rows_used, s.kv_rows_capacity);

  // 2. The follow-up turn: the prefix (picture included) comes from the KV cache, nothing is
  // encoded or looked up.
  Request follow = first;
  follow.messages.push_back(Message::Text("assistant", a.text));
  follow.messages.push_back(Message::Text("user", "And then?"));
  const Result b = Run(*engine, follow);
  s = engine->stats();
  EXPECT_GT(b.cached_prompt_tokens, 0);
  EXPECT_EQ(s.vision_cache_misses_total, 1);
  EXPECT_EQ(s.vision_cache_hits_total, 0);
  EXPECT_EQ(s.prefix_cache_media_total, 1);
  EXPECT_EQ(s.prefix_cache_hit_tokens_total, a.cached_prompt_tokens + b.cached_prompt_tokens);
  EXPECT_EQ(s.prompt_tokens_total, a.prompt_tokens + b.prompt_tokens);

  // 3. Another conversation with the same picture: its prefix differs before the picture, so the
  // encoding comes from the vision cache (a hit), as the result says.
  const Result c = Run(*engine, AboutThePicture("System B, not A."));
  s = engine->stats();
  EXPECT_EQ(c.cached_media, 1);
  EXPECT_EQ(s.vision_cache_hits_total, 1);
  EXPECT_EQ(s.vision_cache_misses_total, 1);
  EXPECT_EQ(s.vision_cache_entries, 1);
  EXPECT_EQ(s.prompt_tokens_total, a.prompt_tokens + b.prompt_tokens + c.prompt_tokens);
  EXPECT_EQ(s.requests_running, 0);
  EXPECT_EQ(s.requests_waiting, 0);

  // 4. Clearing the caches empties them; the counters keep their history.
  engine->ClearCaches();
  s = engine->stats();
  EXPECT_EQ(s.vision_cache_entries, 0);
  EXPECT_EQ(s.vision_cache_bytes, 0);
  EXPECT_EQ(s.vision_cache_hits_total, 1);
  EXPECT_EQ(s.vision_cache_misses_total, 1);
}

}  // namespace
}  // namespace qwenvl
