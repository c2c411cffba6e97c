// qwenvl pull against the hub double: the exact cache layout, resume by Range, hashes, tokens,
// and a hub that misbehaves.
#include "hub/pull.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "hub/cache_layout.h"
#include "hub_double.h"
#include "util/error.h"
#include "util/replace_file.h"

namespace qwenvl::hub {
namespace {

namespace fs = std::filesystem;
using testing::DoubleFile;
using testing::DoubleRepo;
using testing::HubDouble;

const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Bytes(size_t n, int seed) {
  std::string s(n, '\0');
  uint32_t x = static_cast<uint32_t>(seed) * 2654435761u + 1;
  for (char& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

DoubleRepo ModelRepo() {
  DoubleRepo repo;
  repo.commit = kCommit;
  repo.files = {
      {"config.json", R"({"model_type": "qwen2_5_vl"})", false, {}},
      {"tokenizer.json", "{\"tok\": 1}", false, {}},
      {"model-00001-of-00002.safetensors", Bytes(300000, 1), true, {}},
      {"model-00002-of-00002.safetensors", Bytes(200000, 2), true, {}},
      {"sub/dir/extra.bin", Bytes(5000, 3), true, {}},
  };
  return repo;
}

class PullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("qwenvl_pull_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    settings_.endpoint = hub_.Endpoint();
    settings_.cache_root = root_ / "hub";
    options_.limits.stall_timeout_s = 10;
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path Repo() const { return settings_.cache_root / "models--Org--Model"; }

  HubDouble hub_;
  fs::path root_;
  HubSettings settings_;
  PullOptions options_;
  const ModelRef ref_ = ParseModelRef("Org/Model");
};

TEST_F(PullTest, WritesTheHuggingFaceCacheLayout) {
  const DoubleRepo repo = ModelRepo();
  hub_.AddRepo("Org/Model", repo);
  const PullResult r = Pull(settings_, ref_, options_);
  EXPECT_EQ(r.commit, kCommit);
  EXPECT_EQ(r.files, 5u);
  EXPECT_EQ(r.snapshot, Repo() / "snapshots" / kCommit);
  EXPECT_EQ(Read(Repo() / "refs" / "main"), kCommit);
  size_t blobs = 0;
  for (const auto& e : fs::directory_iterator(Repo() / "blobs")) {
    (void)e;
    ++blobs;
  }
  EXPECT_EQ(blobs, 5u);  // nothing left over (.incomplete)
  for (const DoubleFile& f : repo.files) {
    const std::string etag = f.lfs ? f.Sha256() : f.GitEtag();
    EXPECT_EQ(Read(Repo() / "blobs" / etag), f.content) << f.path;
    const fs::path link = r.snapshot / f.path;
    ASSERT_TRUE(fs::is_symlink(link)) << f.path;
    const std::string up = f.path == "sub/dir/extra.bin" ? "../../../../" : "../../";
    EXPECT_EQ(fs::read_symlink(link).string(), up + "blobs/" + etag);
    EXPECT_EQ(Read(link), f.content) << f.path;
  }
  // Every file was asked for at its commit, and LFS bytes came from the blob host.
  int blob_gets = 0;
  for (const auto& s : hub_.Requests()) {
    if (s.blob_host) ++blob_gets;
    if (!s.blob_host && s.target.find("/resolve/") != std::string::npos) {
      EXPECT_NE(s.target.find("/resolve/" + kCommit + "/"), std::string::npos) << s.target;
    }
  }
  EXPECT_EQ(blob_gets, 3);
  EXPECT_EQ(FindCachedModel(settings_.cache_root, ref_), r.snapshot);
}

TEST_F(PullTest, ASecondPullDownloadsNothing) {
  hub_.AddRepo("Org/Model", ModelRepo());
  Pull(settings_, ref_, options_);
  hub_.ClearRequests();
  const PullResult again = Pull(settings_, ref_, options_);
  EXPECT_EQ(again.bytes_downloaded, 0u);
  for (const auto& s : hub_.Requests()) {
    EXPECT_FALSE(s.blob_host) << s.target;
    EXPECT_TRUE(s.method == "HEAD" || s.target.starts_with("/api/")) << s.method << s.target;
  }
}

TEST_F(PullTest, IncludeSelectsFiles) {
  hub_.AddRepo("Org/Model", ModelRepo());
  options_.include = {"*.json"};
  const PullResult r = Pull(settings_, ref_, options_);
  EXPECT_EQ(r.files, 2u);
  EXPECT_TRUE(fs::exists(r.snapshot / "config.json"));
  EXPECT_FALSE(fs::exists(r.snapshot / "model-00001-of-00002.safetensors"));
}

TEST_F(PullTest, ADroppedConnectionIsResumedWithRange) {
  DoubleRepo repo;
  repo.commit = kCommit;
  repo.files = {{"config.json", "{}", false, {}},
                {"model.safetensors", Bytes(400000, 7), true, {}}};
  hub_.AddRepo("Org/Model", repo);
  hub_.drop_next_blob_after = 150000;
  options_.retries = 0;  // the first pull gives up, as an interrupted one would
  EXPECT_THROW(Pull(settings_, ref_, options_), Error);
  const fs::path partial = Repo() / "blobs" / (repo.files[1].Sha256() + ".incomplete");
  ASSERT_TRUE(fs::exists(partial));
  EXPECT_EQ(fs::file_size(partial), 150000u);

  hub_.ClearRequests();
  const PullResult r = Pull(settings_, ref_, options_);
  EXPECT_EQ(r.bytes_downloaded, 400000u - 150000u);
  bool ranged = false;
  for (const auto& s : hub_.Requests())
    if (s.blob_host && s.range == "bytes=150000-") ranged = true;
  EXPECT_TRUE(ranged);
  EXPECT_EQ(Read(r.snapshot / "model.safetensors"), repo.files[1].content);
  EXPECT_FALSE(fs::exists(partial));
}

TEST_F(PullTest, RetriesWithinOnePull) {
  DoubleRepo repo;
  repo.commit = kCommit;
  repo.files = {{"config.json", "{}", false, {}},
                {"model.safetensors", Bytes(100000, 8), true, {}}};
  hub_.AddRepo("Org/Model", repo);
  hub_.drop_next_blob_after = 1000;
  options_.retries = 2;
  const PullResult r = Pull(settings_, ref_, options_);
  EXPECT_EQ(Read(r.snapshot / "model.safetensors"), repo.files[1].content);
  EXPECT_EQ(r.bytes_downloaded, 100000u + 2);  // with config.json
}

TEST_F(PullTest, AServerIgnoringRangeRestartsTheFile) {
  DoubleRepo repo;
  repo.commit = kCommit;
  repo.files = {{"config.json", "{}", false, {}}, {"model.safetensors", Bytes(50000, 9), true, {}}};
  hub_.AddRepo("Org/Model", repo);
  hub_.drop_next_blob_after = 20000;
  hub_.ignore_range = true;
  options_.retries = 1;
  const PullResult r = Pull(settings_, ref_, options_);
  EXPECT_EQ(Read(r.snapshot / "model.safetensors"), repo.files[1].content);
}

TEST_F(PullTest, AWrongHashIsRefusedAndNotKept) {
  DoubleRepo repo;
  repo.commit = kCommit;
  DoubleFile bad{"model.safetensors", Bytes(10000, 4), true, {}};
  bad.served = Bytes(10000, 5);  // same size, other bytes
  repo.files = {{"config.json", "{}", false, {}}, bad};
  hub_.AddRepo("Org/Model", repo);
  try {
    Pull(settings_, ref_, options_);
    FAIL() << "a blob whose sha256 differs was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruptFile);
    EXPECT_NE(std::string(e.what()).find("sha256 mismatch"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(Repo() / "blobs" / bad.Sha256()));
  EXPECT_FALSE(fs::exists(Repo() / "blobs" / (bad.Sha256() + ".incomplete")));
  EXPECT_FALSE(fs::exists(Repo() / "snapshots" / kCommit / "model.safetensors"));
}

TEST_F(PullTest, MoreBytesThanAnnouncedAreRefused) {
  DoubleRepo repo;
  repo.commit = kCommit;
  repo.files = {{"config.json", "{}", false, {}}, {"model.safetensors", Bytes(10000, 6), true, {}}};
  hub_.AddRepo("Org/Model", repo);
  hub_.extra_blob_bytes = 1 << 20;
  try {
    Pull(settings_, ref_, options_);
    FAIL() << "a blob longer than X-Linked-Size was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than the announced 10000 bytes"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(Repo() / "blobs" / (repo.files[1].Sha256() + ".incomplete")));
  EXPECT_FALSE(fs::exists(Repo() / "blobs" / repo.files[1].Sha256()));
}

TEST_F(PullTest, EndlessRedirectsStop) {
  hub_.AddRepo("Org/Model", ModelRepo());
  hub_.endless_redirects = true;
  options_.include = {"model-00001-of-00002.safetensors"};
  try {
    Pull(settings_, ref_, options_);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("redirects"), std::string::npos) << e.what();
  }
  int blob_requests = 0;
  for (const auto& s : hub_.Requests()) blob_requests += s.blob_host;
  EXPECT_LE(blob_requests, kMaxRedirects + 1);
}

TEST_F(PullTest, AStalledTransferGivesUp) {
  hub_.AddRepo("Org/Model", ModelRepo());
  hub_.stall_next_blob = true;
  options_.include = {"model-00001-of-00002.safetensors"};
  options_.retries = 0;
  options_.limits.stall_timeout_s = 1;
  try {
    Pull(settings_, ref_, options_);
    FAIL() << "a stalled transfer did not end";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo) << e.what();
    EXPECT_NE(std::string(e.what()).find("run the pull again to resume"), std::string::npos)
        << e.what();
  }
  // What arrived is kept for the next pull to resume.
  const std::string sha = ModelRepo().files[2].Sha256();
  EXPECT_EQ(fs::file_size(Repo() / "blobs" / (sha + ".incomplete")), 1u);
}

// Two pulls of one model at once (two processes would do the same): each blob is written once,
// under huggingface_hub's lock file, and both end with the complete folder.
TEST_F(PullTest, ConcurrentPullsShareTheCache) {
  const DoubleRepo repo = ModelRepo();
  hub_.AddRepo("Org/Model", repo);
  const uint64_t total = [&] {
    uint64_t n = 0;
    for (const DoubleFile& f : repo.files) n += f.content.size();
    return n;
  }();
  // Pulls of one model at once, into an empty cache and then into a full one: they write the same
  // ref, blobs and links. An exception escaping a thread would abort, so each is kept and checked.
  constexpr int kPulls = 4;
  for (int round = 0; round < 6; ++round) {
    if (round % 2 == 0) fs::remove_all(settings_.cache_root);
    std::vector<std::optional<PullResult>> results(kPulls);
    std::vector<std::string> errors(kPulls);
    std::vector<std::thread> threads;
    for (int i = 0; i < kPulls; ++i)
      threads.emplace_back([&, i] {
        try {
          results[i] = Pull(settings_, ref_, options_);
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      });
    for (std::thread& t : threads) t.join();
    uint64_t downloaded = 0;
    for (int i = 0; i < kPulls; ++i) {
      ASSERT_TRUE(results[i]) << "round " << round << ", pull " << i << ": " << errors[i];
      downloaded += results[i]->bytes_downloaded;
      for (const DoubleFile& f : repo.files)
        EXPECT_EQ(Read(results[i]->snapshot / f.path), f.content);
    }
    // Each blob downloaded once, by whichever pull held its lock first.
    EXPECT_EQ(downloaded, round % 2 == 0 ? total : 0) << "round " << round;
    EXPECT_TRUE(fs::exists(settings_.cache_root / ".locks" / "models--Org--Model"));
    // No temporary link or ref left behind.
    for (const fs::directory_entry& e :
         fs::recursive_directory_iterator(settings_.cache_root / "models--Org--Model"))
      EXPECT_FALSE(IsTemporaryName(e.path().filename().string())) << e.path();
  }
}

TEST_F(PullTest, AGatedModelNeedsTheToken) {
  DoubleRepo repo = ModelRepo();
  repo.token = "hf_secret";
  hub_.AddRepo("Org/Model", repo);
  try {
    Pull(settings_, ref_, options_);
    FAIL() << "a gated model was pulled without a token";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("HTTP 401"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("HF_TOKEN"), std::string::npos) << e.what();
  }
  // The token read from the environment, as `hf` reads it.
  const std::string endpoint = hub_.Endpoint(), cache = settings_.cache_root.string();
  const HubSettings from_env = SettingsFromEnvironment([&](const char* name) {
    const std::string n = name;
    if (n == "HF_TOKEN") return std::optional<std::string>("hf_secret");
    if (n == "HF_ENDPOINT") return std::optional<std::string>(endpoint + "/");
    if (n == "HF_HUB_CACHE") return std::optional<std::string>(cache);
    return std::optional<std::string>();
  });
  EXPECT_EQ(from_env.endpoint, endpoint);
  hub_.ClearRequests();
  const PullResult r = Pull(from_env, ref_, options_);
  EXPECT_EQ(r.files, 5u);
  for (const auto& s : hub_.Requests()) {
    if (s.blob_host)
      EXPECT_EQ(s.authorization, "") << "the token went to the blob host";
    else
      EXPECT_EQ(s.authorization, "Bearer hf_secret") << s.target;
  }
}

TEST_F(PullTest, AWrongTokenIsRefused) {
  DoubleRepo repo = ModelRepo();
  repo.token = "hf_secret";
  hub_.AddRepo("Org/Model", repo);
  settings_.token = "hf_other";
  EXPECT_THROW(Pull(settings_, ref_, options_), Error);
}

TEST_F(PullTest, UnknownModelAndRevision) {
  hub_.AddRepo("Org/Model", ModelRepo());
  try {
    Pull(settings_, ParseModelRef("Org/Other"), options_);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  }
  EXPECT_THROW(Pull(settings_, ParseModelRef("Org/Model@v9"), options_), Error);
  EXPECT_FALSE(fs::exists(Repo() / "refs" / "v9"));
}

TEST_F(PullTest, ACommitRevisionWritesNoRef) {
  hub_.AddRepo("Org/Model", ModelRepo());
  const PullResult r = Pull(settings_, ParseModelRef("Org/Model@" + kCommit), options_);
  EXPECT_EQ(r.commit, kCommit);
  EXPECT_FALSE(fs::exists(Repo() / "refs"));
  EXPECT_EQ(FindCachedModel(settings_.cache_root, ParseModelRef("Org/Model@" + kCommit)),
            r.snapshot);
}

// Listings that try to write outside the snapshot are refused whole, before any download.
TEST_F(PullTest, PathTraversalInTheListingIsRefused) {
  for (const std::string& name :
       std::vector<std::string>{"../../../evil", "/etc/passwd", "a/../../b", "a//b", "a\\..\\b",
                                std::string("a\nb"), "./x"}) {
    DoubleRepo repo;
    repo.commit = kCommit;
    repo.listing =
        nlohmann::json{{"sha", kCommit},
                       {"siblings", {{{"rfilename", "config.json"}}, {{"rfilename", name}}}}}
            .dump();
    hub_.AddRepo("Org/Model", repo);
    try {
      Pull(settings_, ref_, options_);
      FAIL() << name;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << name << ": " << e.what();
    }
    EXPECT_FALSE(fs::exists(root_ / "evil"));
    EXPECT_FALSE(fs::exists(Repo() / "blobs"));
  }
}

TEST_F(PullTest, AHugeListingIsRefused) {
  DoubleRepo repo;
  repo.commit = kCommit;
  std::string listing = "{\"sha\": \"" + kCommit + "\", \"siblings\": [";
  for (size_t i = 0; i < kMaxRepoFiles + 1; ++i)
    listing += (i ? ",{\"rfilename\":\"f" : "{\"rfilename\":\"f") + std::to_string(i) + "\"}";
  listing += "]}";
  repo.listing = listing;
  hub_.AddRepo("Org/Model", repo);
  try {
    Pull(settings_, ref_, options_);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfRange) << e.what();
  }
  repo.listing = std::string(kMaxRevisionInfoBytes + 10, ' ');
  hub_.AddRepo("Org/Model", repo);
  try {
    Pull(settings_, ref_, options_);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfRange) << e.what();
  }
}

TEST_F(PullTest, AMalformedListingIsRefused) {
  for (const std::string& listing : std::vector<std::string>{
           "not json", "{}", "{\"sha\": \"xyz\", \"siblings\": []}",
           "{\"sha\": \"" + kCommit + "\", \"siblings\": 3}",
           "{\"sha\": \"" + kCommit + "\", \"siblings\": [{\"rfilename\": 5}]}"}) {
    DoubleRepo repo;
    repo.commit = kCommit;
    repo.listing = listing;
    hub_.AddRepo("Org/Model", repo);
    EXPECT_THROW(Pull(settings_, ref_, options_), Error) << listing;
  }
}

}  // namespace
}  // namespace qwenvl::hub
