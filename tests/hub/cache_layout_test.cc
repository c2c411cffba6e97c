// The Hugging Face cache layout: settings from the environment, a folder as `hf download` leaves
// it, listing and removal.
#include "hub/cache_layout.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>

#include "hub/hub_settings.h"
#include "util/error.h"
#include "util/replace_file.h"
#include "util/sha256.h"

namespace qwenvl::hub {
namespace {

const std::string kCommit = "fedcba9876543210fedcba9876543210fedcba98";

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

void WriteFile(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("qwenvl_cache_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  // A model as `hf download` writes it: blobs named by sha256 / git id, relative symlinks, a ref.
  fs::path WriteHfModel(const std::string& org, const std::string& name) {
    const fs::path repo = root_ / ("models--" + org + "--" + name);
    const auto add = [&](const std::string& path, const std::string& content) {
      const std::string etag =
          Sha256Hex(std::span(reinterpret_cast<const uint8_t*>(content.data()), content.size()));
      WriteFile(repo / "blobs" / etag, content);
      const fs::path link = repo / "snapshots" / kCommit / path;
      fs::create_directories(link.parent_path());
      fs::create_symlink("../../blobs/" + etag, link);
    };
    add("config.json", "{}");
    add("model.safetensors", std::string(1000, 'w'));
    WriteFile(repo / "refs" / "main", kCommit);
    return repo;
  }

  fs::path root_;
};

TEST_F(CacheTest, SettingsFollowHuggingFaceHub) {
  HubSettings s = SettingsFromEnvironment(Env({{"HOME", "/home/u"}}));
  EXPECT_EQ(s.endpoint, "https://huggingface.co");
  EXPECT_EQ(s.cache_root, "/home/u/.cache/huggingface/hub");
  EXPECT_EQ(s.token, "");
  s = SettingsFromEnvironment(Env({{"HOME", "/home/u"}, {"XDG_CACHE_HOME", "/x"}}));
  EXPECT_EQ(s.cache_root, "/x/huggingface/hub");
  s = SettingsFromEnvironment(
      Env({{"HOME", "/home/u"}, {"XDG_CACHE_HOME", "/x"}, {"HF_HOME", root_.string()}}));
  EXPECT_EQ(s.cache_root, root_ / "hub");
  s = SettingsFromEnvironment(
      Env({{"HF_HOME", "/h"}, {"HF_HUB_CACHE", "/c"}, {"HF_ENDPOINT", "http://mirror.example//"}}));
  EXPECT_EQ(s.cache_root, "/c");
  EXPECT_EQ(s.endpoint, "http://mirror.example");
}

TEST_F(CacheTest, TokenFromEnvironmentOrTokenFile) {
  WriteFile(root_ / "token", "hf_fromfile\n");
  EXPECT_EQ(SettingsFromEnvironment(Env({{"HF_HOME", root_.string()}})).token, "hf_fromfile");
  EXPECT_EQ(
      SettingsFromEnvironment(Env({{"HF_HOME", root_.string()}, {"HF_TOKEN", "hf_env"}})).token,
      "hf_env");
  WriteFile(root_ / "other", "hf_path");
  EXPECT_EQ(SettingsFromEnvironment(
                Env({{"HF_HOME", root_.string()}, {"HF_TOKEN_PATH", (root_ / "other").string()}}))
                .token,
            "hf_path");
}

TEST_F(CacheTest, Etags) {
  const std::string sha(64, 'a'), git(40, 'b');
  EXPECT_EQ(NormalizeEtag("\"" + sha + "\""), sha);
  EXPECT_EQ(NormalizeEtag("W/\"" + git + "\""), git);
  EXPECT_EQ(NormalizeEtag(git), git);
  for (const std::string& bad :
       std::vector<std::string>{"", "\"\"", "../../x", std::string(63, 'a'), std::string(64, 'A'),
                                "\"" + std::string(40, 'g') + "\"", sha + "/x"})
    EXPECT_FALSE(NormalizeEtag(bad)) << bad;
  EXPECT_TRUE(IsSha256Etag(sha));
  EXPECT_FALSE(IsSha256Etag(git));
}

TEST_F(CacheTest, FindsAFolderThatHfDownloadWrote) {
  WriteHfModel("Qwen", "Qwen2.5-VL-3B-Instruct");
  const auto found = FindCachedModel(root_, ParseModelRef("Qwen/Qwen2.5-VL-3B-Instruct"));
  ASSERT_TRUE(found);
  EXPECT_EQ(*found, root_ / "models--Qwen--Qwen2.5-VL-3B-Instruct" / "snapshots" / kCommit);
  EXPECT_TRUE(fs::is_regular_file(*found / "model.safetensors"));
  EXPECT_EQ(FindCachedModel(root_, ParseModelRef("Qwen/Qwen2.5-VL-3B-Instruct@" + kCommit)), found);
  EXPECT_FALSE(FindCachedModel(root_, ParseModelRef("Qwen/Qwen2.5-VL-3B-Instruct@dev")));
  EXPECT_FALSE(FindCachedModel(root_, ParseModelRef("Qwen/Other")));
}

TEST_F(CacheTest, AHostileRefFileIsIgnored) {
  const fs::path repo = WriteHfModel("Org", "M");
  WriteFile(repo / "refs" / "main", "../../../../etc");
  EXPECT_FALSE(FindCachedModel(root_, ParseModelRef("Org/M")));
  WriteFile(repo / "refs" / "main", std::string(1 << 20, 'a'));
  EXPECT_FALSE(FindCachedModel(root_, ParseModelRef("Org/M")));
}

TEST_F(CacheTest, ListsModelsWithSizesAndState) {
  WriteHfModel("Org", "A");
  const fs::path b = WriteHfModel("Org", "B");
  WriteFile(b / "blobs" / (std::string(64, 'c') + ".incomplete"), "12345");
  fs::create_symlink("../../blobs/" + std::string(64, 'd'), b / "snapshots" / kCommit / "gone");
  fs::create_directories(root_ / "not-a-model");
  fs::create_directories(root_ / "models--bad");
  const auto models = ListCachedModels(root_);
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].repo_id, "Org/A");
  EXPECT_EQ(models[0].revisions, std::vector<std::string>{"main"});
  EXPECT_EQ(models[0].revision_commits, std::vector<std::string>{kCommit});
  EXPECT_EQ(models[0].size_on_disk, 1002u);
  EXPECT_EQ(models[0].files, 2);
  EXPECT_TRUE(models[0].Complete());
  EXPECT_EQ(models[1].size_on_disk, 1007u);
  EXPECT_EQ(models[1].incomplete_blobs, 1);
  EXPECT_EQ(models[1].missing_files, 1);
  EXPECT_FALSE(models[1].Complete());
  EXPECT_TRUE(ListCachedModels(root_ / "absent").empty());
}

// A pull killed between making a temporary and renaming it leaves `*.qwenvl-tmp.*` beside a ref
// or a snapshot link: the listing counts neither as a revision or a file.
TEST_F(CacheTest, LeftTemporariesAreNotListed) {
  const fs::path a = WriteHfModel("Org", "A");
  WriteFile(a / "refs" / ("main" + std::string(kTemporaryMark) + "Ab12Cd"), kCommit);
  fs::create_symlink(
      "../../blobs/" + std::string(64, 'e'),
      a / "snapshots" / kCommit / ("config.json" + std::string(kTemporaryMark) + "7.0"));
  const auto models = ListCachedModels(root_);
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].revisions, std::vector<std::string>{"main"});
  EXPECT_EQ(models[0].files, 2);
  EXPECT_EQ(models[0].missing_files, 0);
  EXPECT_TRUE(models[0].Complete());
}

TEST_F(CacheTest, RemovesAModelAndOnlyIt) {
  WriteHfModel("Org", "A");
  WriteHfModel("Org", "B");
  EXPECT_EQ(RemoveCachedModel(root_, ParseModelRef("Org/A")), 1002u);
  EXPECT_FALSE(fs::exists(root_ / "models--Org--A"));
  EXPECT_TRUE(fs::exists(root_ / "models--Org--B" / "blobs"));
  try {
    RemoveCachedModel(root_, ParseModelRef("Org/A"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("not in the cache"), std::string::npos);
  }
}

TEST_F(CacheTest, RemovingASymlinkedFolderLeavesItsTarget) {
  const fs::path outside = root_ / "outside";
  WriteFile(outside / "precious", "keep");
  fs::create_directories(root_ / "hub");
  fs::create_directory_symlink(outside, root_ / "hub" / "models--Org--L");
  RemoveCachedModel(root_ / "hub", ParseModelRef("Org/L"));
  EXPECT_FALSE(fs::exists(root_ / "hub" / "models--Org--L"));
  EXPECT_TRUE(fs::exists(outside / "precious"));
}

TEST_F(CacheTest, SnapshotLinksAreRelative) {
  const fs::path repo = root_ / "models--O--N";
  WriteFile(repo / "blobs" / std::string(40, 'a'), "x");
  LinkSnapshotFile(repo, kCommit, "a/b/c.txt", std::string(40, 'a'));
  EXPECT_EQ(fs::read_symlink(repo / "snapshots" / kCommit / "a/b/c.txt"),
            "../../../../blobs/" + std::string(40, 'a'));
  WriteRef(repo, "refs/pr/1", kCommit);
  EXPECT_EQ(CachedCommit(repo, "refs/pr/1"), kCommit);
}

}  // namespace
}  // namespace qwenvl::hub
