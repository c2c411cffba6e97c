#include "server/media_source.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include "server/api_error.h"

namespace qwenvl::server {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

const std::string kParam = "messages[0].content[0].image_url";

void WriteFile(const fs::path& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

// A media root with pictures, a subfolder and links, and files outside it:
//   <base>/media/pic.png, sub/deep.png, with space.png, empty.png, link-in.png -> pic.png,
//     link-out.png -> <base>/outside.png, link-passwd -> /etc/passwd, sub-link -> <base>/secret
//   <base>/outside.png, <base>/secret/key.png, <base>/media-old/pic.png
class MediaSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() /
            ("qwenvl-media-source-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(base_);
    root_ = base_ / "media";
    fs::create_directories(root_ / "sub");
    fs::create_directories(base_ / "secret");
    fs::create_directories(base_ / "media-old");
    WriteFile(root_ / "pic.png", "picture");
    WriteFile(root_ / "sub" / "deep.png", "deep picture");
    WriteFile(root_ / "with space.png", "spaced");
    WriteFile(root_ / "empty.png", "");
    WriteFile(base_ / "outside.png", "outside");
    WriteFile(base_ / "secret" / "key.png", "secret");
    WriteFile(base_ / "media-old" / "pic.png", "old");
    fs::create_symlink(root_ / "pic.png", root_ / "link-in.png");
    fs::create_symlink(base_ / "outside.png", root_ / "link-out.png");
    fs::create_symlink("/etc/passwd", root_ / "link-passwd");
    fs::create_directory_symlink(base_ / "secret", root_ / "sub-link");
    policy_.local_root = root_;
  }
  void TearDown() override { fs::remove_all(base_); }

  std::string Read(const std::string& url) {
    Media media;
    ResolveMediaUrl(url, policy_, kParam, media);
    EXPECT_TRUE(media.path.empty()) << url;
    return std::string(media.bytes.begin(), media.bytes.end());
  }

  ApiError ErrorOf(const std::string& url) {
    try {
      Media media;
      ResolveMediaUrl(url, policy_, kParam, media);
      ADD_FAILURE() << url << " was read (" << media.bytes.size() << " bytes)";
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400) << url;
      EXPECT_EQ(e.param(), kParam) << url;
      return e;
    }
    return ApiError(0, "");
  }

  // What every path outside the root gets, whether or not a file is there. `path` is what the
  // message names: `url` itself, or the path a file:// URL decodes to.
  void ExpectNotFound(const std::string& url, std::string path = "") {
    if (path.empty()) path = url;
    const ApiError e = ErrorOf(url);
    EXPECT_EQ(e.code(), "file_not_found") << url;
    EXPECT_EQ(std::string(e.what()), "file not found in the server's media directory: " + path);
  }

  fs::path base_, root_;
  MediaPolicy policy_;
};

TEST_F(MediaSourceTest, ReadsFilesUnderTheRootIntoBytes) {
  EXPECT_EQ(Read((root_ / "pic.png").string()), "picture");
  EXPECT_EQ(Read("file://" + (root_ / "sub" / "deep.png").string()), "deep picture");
  EXPECT_EQ(Read("file://localhost" + (root_ / "pic.png").string()), "picture");
  EXPECT_EQ(Read("file://" + root_.string() + "/with%20space.png"), "spaced");
  EXPECT_EQ(Read((root_ / "sub" / ".." / "pic.png").string()), "picture");
  EXPECT_EQ(Read((root_ / "link-in.png").string()), "picture");  // a link that stays inside
  Media video;
  video.kind = Media::Kind::kVideo;
  ResolveMediaUrl((root_ / "pic.png").string(), policy_, kParam, video);
  EXPECT_TRUE(video.path.empty());
  EXPECT_EQ(std::string(video.bytes.begin(), video.bytes.end()), "picture");
}

TEST_F(MediaSourceTest, RootGivenThroughASymlink) {
  fs::create_directory_symlink(root_, base_ / "media-link");
  policy_.local_root = base_ / "media-link";
  EXPECT_EQ(Read((base_ / "media-link" / "pic.png").string()), "picture");
  EXPECT_EQ(Read((root_ / "pic.png").string()), "picture");
  EXPECT_EQ(CanonicalMediaRoot((base_ / "media-link").string()), fs::canonical(root_));
  EXPECT_THROW(CanonicalMediaRoot((base_ / "nothing").string()), std::runtime_error);
  EXPECT_THROW(CanonicalMediaRoot((root_ / "pic.png").string()), std::runtime_error);
}

TEST_F(MediaSourceTest, NothingOutsideTheRootAndNoHintWhetherItExists) {
  ExpectNotFound((base_ / "outside.png").string());         // exists
  ExpectNotFound((base_ / "no-such-file.png").string());    // does not
  ExpectNotFound((root_ / ".." / "outside.png").string());  // ".." out of the root
  ExpectNotFound((root_ / "sub" / ".." / ".." / "secret" / "key.png").string());
  ExpectNotFound("file://" + root_.string() + "/..%2Foutside.png",
                 root_.string() + "/../outside.png");
  ExpectNotFound((root_ / "link-out.png").string());  // a link out of the root
  ExpectNotFound((root_ / "link-passwd").string());
  ExpectNotFound((root_ / "sub-link" / "key.png").string());   // a linked folder
  ExpectNotFound((base_ / "media-old" / "pic.png").string());  // a sibling sharing the prefix
  ExpectNotFound("/etc/passwd");
  ExpectNotFound("/etc/shadow");
  ExpectNotFound("/proc/self/environ");
  ExpectNotFound("file:///etc/passwd", "/etc/passwd");
  ExpectNotFound((root_ / "missing.png").string());  // inside, missing
  // what() ends at the NUL: only the code is compared.
  EXPECT_EQ(ErrorOf(root_.string() + std::string("/pic.png\0.txt", 13)).code(), "file_not_found");
}

TEST_F(MediaSourceTest, OnlyRegularFiles) {
  ASSERT_EQ(mkfifo((root_ / "pipe").c_str(), 0600), 0);
  // Opening a FIFO for reading waits for a writer: run it aside, and free it if it hangs.
  auto result = std::async(std::launch::async, [&] { return ErrorOf((root_ / "pipe").string()); });
  if (result.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    const int writer = open((root_ / "pipe").c_str(), O_WRONLY | O_NONBLOCK);
    if (writer >= 0) close(writer);
    FAIL() << "reading a FIFO blocked";
  }
  EXPECT_EQ(result.get().code(), "not_a_regular_file");
  EXPECT_EQ(ErrorOf((root_ / "sub").string()).code(), "not_a_regular_file");
  EXPECT_EQ(ErrorOf(root_.string()).code(), "not_a_regular_file");
  EXPECT_EQ(ErrorOf((root_ / "empty.png").string()).code(), "empty_file");

  // Devices and kernel files are refused even when the root is where they live.
  policy_.local_root = "/dev";
  EXPECT_EQ(ErrorOf("/dev/zero").code(), "not_a_regular_file");
  EXPECT_EQ(ErrorOf("/dev/null").code(), "not_a_regular_file");
  policy_.local_root = "/proc";
  EXPECT_EQ(ErrorOf("/proc/self/environ").code(), "not_a_regular_file");
  EXPECT_EQ(ErrorOf("/proc/self/status").code(), "not_a_regular_file");
}

TEST_F(MediaSourceTest, FileOverTheCapIsNotRead) {
  policy_.max_local_bytes = 10;
  WriteFile(root_ / "eleven.png", "0123456789a");
  WriteFile(root_ / "ten.png", "0123456789");
  EXPECT_EQ(Read((root_ / "ten.png").string()), "0123456789");
  const ApiError e = ErrorOf((root_ / "eleven.png").string());
  EXPECT_EQ(e.code(), "media_too_large");
  EXPECT_EQ(std::string(e.what()), (root_ / "eleven.png").string() + " is larger than 10 bytes");
  // 64 GiB (sparse): reading it whole would take minutes and more memory than there is.
  policy_.max_local_bytes = MediaPolicy{}.max_local_bytes;
  const auto huge = root_ / "huge.mp4";
  {
    const int fd = open(huge.c_str(), O_CREAT | O_WRONLY, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, 64LL << 30), 0);
    close(fd);
  }
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ErrorOf(huge.string()).code(), "media_too_large");
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));
}

TEST_F(MediaSourceTest, LocalFilesOffWithoutARoot) {
  policy_.local_root.clear();
  EXPECT_EQ(ErrorOf((root_ / "pic.png").string()).code(), "local_files_disabled");
  EXPECT_EQ(ErrorOf("file:///etc/passwd").code(), "local_files_disabled");
}

TEST_F(MediaSourceTest, MalformedFileUrls) {
  EXPECT_EQ(ErrorOf("file://otherhost/etc/passwd").code(), "unsupported_url");
  EXPECT_EQ(ErrorOf("file://" + root_.string() + "/pic%zz.png").code(), "unsupported_url");
  EXPECT_EQ(ErrorOf("file://" + root_.string() + "/pic%2").code(), "unsupported_url");
  EXPECT_EQ(ErrorOf("relative/pic.png").code(), "unsupported_url");
}

TEST_F(MediaSourceTest, FramesFromLocalFilesAreCopiesOfTheCheckedBytes) {
  std::shared_ptr<TempFiles> temp;
  const std::string frame =
      ResolveFramePath((root_ / "link-in.png").string(), policy_, kParam + "[0]", temp);
  ASSERT_TRUE(temp);
  EXPECT_NE(fs::canonical(frame), fs::canonical(root_ / "pic.png"));
  std::ifstream in(frame, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "picture");
  EXPECT_THROW(ResolveFramePath("/etc/passwd", policy_, kParam + "[1]", temp), ApiError);
}

TEST(MediaSourceRemote, FetchErrorsBecomeBadRequests) {
  MediaPolicy policy;
  policy.allow_remote_urls = true;
  const auto error_of = [&](FetchError::Reason reason) {
    policy.fetch_url = [reason](const std::string& url) -> std::vector<uint8_t> {
      throw FetchError(reason, "could not fetch " + url);
    };
    try {
      Media media;
      ResolveMediaUrl("https://example.com/a.png", policy, kParam, media);
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400);
      EXPECT_EQ(e.param(), kParam);
      EXPECT_EQ(std::string(e.what()), "could not fetch https://example.com/a.png");
      return e.code();
    }
    return std::string("no error");
  };
  EXPECT_EQ(error_of(FetchError::Reason::kInvalidUrl), "invalid_url");
  EXPECT_EQ(error_of(FetchError::Reason::kNotAllowed), "url_not_allowed");
  EXPECT_EQ(error_of(FetchError::Reason::kTooLarge), "media_too_large");
  EXPECT_EQ(error_of(FetchError::Reason::kFailed), "fetch_failed");
}

}  // namespace
}  // namespace qwenvl::server
