// ReplaceFile: many writers of one file, in threads of one process, each leave a whole file and no
// temporary; a reader never sees a part; a path that cannot be written gives an error naming it.
#include "util/replace_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "util/error.h"

namespace qwenvl {
namespace {

namespace fs = std::filesystem;

class ReplaceFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("qwenvl_replace_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  static std::string Read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  fs::path dir_;
};

TEST_F(ReplaceFileTest, WritesAndReplacesReadableByAll) {
  const std::string path = (dir_ / "f").string();
  ReplaceFile(path, "first");
  EXPECT_EQ(Read(path), "first");
  ReplaceFile(path, "");
  EXPECT_EQ(Read(path), "");
  ReplaceFile(path, std::string(1 << 20, 'x'));
  EXPECT_EQ(Read(path), std::string(1 << 20, 'x'));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  ReplaceFile(path, "private", 0600);
  EXPECT_EQ(Read(path), "private");
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(ReplaceFileTest, ConcurrentWritersLeaveOneWholeFileAndNoTemporary) {
  const std::string path = (dir_ / "ref").string();
  // Each writer's contents are its own letter repeated; a torn file would mix letters or lengths.
  constexpr int kWriters = 8, kRounds = 50;
  constexpr size_t kBytes = 64 * 1024;
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::thread reader([&] {
    while (!done.load()) {
      const std::string s = Read(path);
      if (s.empty()) continue;  // not written yet
      if (s.size() != kBytes || s.find_first_not_of(s[0]) != std::string::npos) ++torn;
    }
  });
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int w = 0; w < kWriters; ++w)
    writers.emplace_back([&, w] {
      for (int r = 0; r < kRounds; ++r) {
        try {
          ReplaceFile(path, std::string(kBytes, static_cast<char>('a' + w)));
        } catch (const Error&) {
          ++failures;
        }
      }
    });
  for (std::thread& t : writers) t.join();
  done = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(torn.load(), 0);
  const std::string last = Read(path);
  ASSERT_EQ(last.size(), kBytes);
  EXPECT_EQ(last.find_first_not_of(last[0]), std::string::npos);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(ReplaceFileTest, AnUnwritablePathIsNamedAndLeavesNothing) {
  for (const std::string& path : {(dir_ / "missing" / "f").string(), (dir_ / "folder").string()}) {
    if (path.ends_with("folder")) fs::create_directories(path);  // a folder cannot be replaced
    try {
      ReplaceFile(path, "x");
      FAIL() << path << " was written";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kIo);
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  // Only the folder made above: no temporary left by the failed rename.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

}  // namespace
}  // namespace qwenvl
