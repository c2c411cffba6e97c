// The quantized-weight cache end to end on the demo checkpoint: an engine whose q4/q8 weights came
// from the cache, copied into its own pages (the default) or read where the file is mapped
// (resident_weights off), answers exactly as one that quantized them at load (same tokens, same
// logprobs bit for bit: the bytes are the same), and so do two engines loading at once into an
// empty cache.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "qwenvl/engine.h"
#include "util/mapped_file.h"

namespace qwenvl {
namespace {

namespace fs = std::filesystem;

const std::string kDemo = QWENVL_DEMO_MODEL_DIR;
const std::string kDemoData = QWENVL_DATA_DIR "/demo";
constexpr size_t kCases = 2;

std::vector<Request> Requests() {
  auto j = nlohmann::json::parse(ReadFileToString(kDemoData + "/cases.json"));
  std::vector<Request> out;
  for (const auto& c : j["cases"]) {
    if (out.size() == kCases) break;
    Message user;
    user.role = "user";
    Media m;
    m.path = kDemoData + "/" + c["image"].get<std::string>();
    user.content.push_back({ContentPart::Type::kMedia, {}, m});
    user.content.push_back({ContentPart::Type::kText, c["question"], {}});
    Request r;
    r.messages.push_back(user);
    r.sampling.max_new_tokens = 24;
    r.sampling.logprobs = 3;
    out.push_back(std::move(r));
  }
  return out;
}

struct Answer {
  std::vector<TokenId> tokens;
  std::vector<float> logprobs;  // chosen and top, in order
  bool operator==(const Answer&) const = default;
};

// Text q4 and vision q8: both cached formats in one load.
std::vector<Answer> Answers(const std::string& cache, bool resident = true) {
  EngineOptions o;
  o.resident_weights = resident;
  o.model_dir = kDemo;
  o.threads = 2;
  o.context_length = 1024;
  o.text_weights = WeightPrecision::kQ4;
  o.vision_weights = WeightPrecision::kQ8;
  o.weight_cache = cache;
  auto engine = Engine::Load(o);
  std::vector<Answer> out;
  for (const Request& r : Requests()) {
    const Result res = engine->Generate(r);
    Answer a;
    a.tokens = res.tokens;
    for (const TokenLogprob& lp : res.logprobs) {
      a.logprobs.push_back(lp.logprob);
      for (const TokenLogprob& t : lp.top) a.logprobs.push_back(t.logprob);
    }
    EXPECT_FALSE(a.tokens.empty());
    out.push_back(std::move(a));
  }
  return out;
}

std::vector<fs::path> CacheFiles(const std::string& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

ino_t Inode(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_ino;
}

std::string FreshDir(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / (name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  return dir.string();
}

TEST(WeightCacheEngine, CachedWeightsAnswerExactlyAsFreshlyQuantizedOnes) {
  if (!fs::exists(kDemo + "/model.safetensors")) GTEST_SKIP() << "no demo model";
  const std::string dir = FreshDir("qwenvl_weight_cache_engine");
  const std::vector<Answer> fresh = Answers("off");
  const std::vector<Answer> cold = Answers(dir);  // quantizes, writes the q4 and q8 files
  const std::vector<fs::path> files = CacheFiles(dir);
  ASSERT_EQ(files.size(), 2u);  // one per format
  const ino_t q4 = Inode(files[0]), q8 = Inode(files[1]);
  const std::vector<Answer> warm = Answers(dir);                        // copies them
  const std::vector<Answer> mapped = Answers(dir, /*resident=*/false);  // reads them in the file
  EXPECT_EQ(Inode(files[0]), q4) << "a warm load must not rewrite the file";
  EXPECT_EQ(Inode(files[1]), q8);
  EXPECT_TRUE(cold == fresh);
  EXPECT_TRUE(warm == fresh);
  EXPECT_TRUE(mapped == fresh);
  EXPECT_EQ(CacheFiles(dir), files);
}

TEST(WeightCacheEngine, TwoLoadsAtOnceLeaveAUsableCache) {
  if (!fs::exists(kDemo + "/model.safetensors")) GTEST_SKIP() << "no demo model";
  const std::string dir = FreshDir("qwenvl_weight_cache_engine_concurrent");
  const std::vector<Answer> fresh = Answers("off");
  std::vector<Answer> a, b;
  std::thread ta([&] { a = Answers(dir); });
  std::thread tb([&] { b = Answers(dir); });
  ta.join();
  tb.join();
  EXPECT_TRUE(a == fresh);
  EXPECT_TRUE(b == fresh);
  const std::vector<fs::path> files = CacheFiles(dir);
  ASSERT_EQ(files.size(), 2u);  // no temporaries left, one file per format
  const ino_t q4 = Inode(files[0]);
  EXPECT_TRUE(Answers(dir) == fresh);
  EXPECT_EQ(Inode(files[0]), q4);  // the file either load left was whole: mapped, not rewritten
}

}  // namespace
}  // namespace qwenvl
