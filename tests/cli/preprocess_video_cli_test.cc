// End-to-end test of `qwenvl preprocess --video` (src/cli/preprocess_video.cc): runs the built
// binary.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "../media/media_test_util.h"
#include "cli_runner.h"
#include "media/video_preprocess.h"

namespace qwenvl::cli {
namespace {

using testing::CommandResult;
using testing::RunQwenvl;

std::string VideoData(const std::string& name) {
  return std::string(QWENVL_TEST_DATA) + "/video/" + name;
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("qwenvl_preprocess_video_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TEST(PreprocessVideoCommand, TestsrcDefaults) {
  const std::string out = TempPath("testsrc.safetensors");
  const CommandResult r =
      RunQwenvl("preprocess --video " + VideoData("testsrc-4s.mp4") + " --out " + out, true);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("\"frame_indices\":[0,17,34,51,68,85,102,119]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"grid_thw\":[4,20,28]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"second_per_grid_ts\":1.0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"video_tokens\":560"), std::string::npos) << r.out;
  const auto got = media::testing::ReadSafetensors(out);
  std::filesystem::remove(out);
  EXPECT_EQ(got.at("pixel_values_videos").shape, (std::vector<int64_t>{4 * 20 * 28, 1176}));
  EXPECT_EQ(got.at("video_grid_thw").ints(), (std::vector<int64_t>{4, 20, 28}));
  EXPECT_EQ(got.at("frame_indices").ints(),
            (std::vector<int64_t>{0, 17, 34, 51, 68, 85, 102, 119}));
}

TEST(PreprocessVideoCommand, NframesAndFrameList) {
  const std::string out = TempPath("n.safetensors");
  CommandResult r =
      RunQwenvl("preprocess --video " + VideoData("vp9.webm") + " --nframes 6 --out " + out, true);
  ASSERT_EQ(r.status, 0) << r.out;
  // linspace(0, 9, 6) = 0, 1.8, 3.6, 5.4, 7.2, 9.
  EXPECT_NE(r.out.find("\"frame_indices\":[0,2,4,5,7,9]"), std::string::npos) << r.out;
  r = RunQwenvl("preprocess --video-frames " + VideoData("frame0.png") + " " +
                    VideoData("frame1.png") + " " + VideoData("frame2.png") + " --fps 1 --out " +
                    out,
                true);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("\"grid_thw\":[2,4,4]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"second_per_grid_ts\":2.0"), std::string::npos) << r.out;
  std::filesystem::remove(out);
}

TEST(PreprocessVideoCommand, BadInputExitsOne) {
  const std::string out = TempPath("bad.safetensors");
  CommandResult r =
      RunQwenvl("preprocess --video " + VideoData("audio_only.mkv") + " --out " + out, true);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("no video stream"), std::string::npos) << r.out;
  r = RunQwenvl("preprocess --video " + VideoData("garbage.mp4") + " --out " + out, true);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("garbage.mp4"), std::string::npos) << r.out;
  r = RunQwenvl("preprocess --image x.png --video " + VideoData("vp9.webm") + " --out " + out,
                true);
  EXPECT_NE(r.status, 0) << r.out;  // --image and --video exclude each other
  EXPECT_FALSE(std::filesystem::exists(out));
}

// Peak resident memory (KiB) of `qwenvl args...` run in a fresh child process (getrusage of the
// child after it ends); -1 when it did not exit 0.
int64_t PeakRssKib(const std::vector<std::string>& args) {
  std::vector<std::string> argv_text = {QWENVL_BINARY_DIR "/qwenvl"};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (std::freopen("/dev/null", "w", stdout) == nullptr) ::_exit(127);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  struct rusage usage {};
  if (pid < 0 || ::wait4(pid, &status, 0, &usage) != pid) return -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return usage.ru_maxrss;
}

// A 20-minute clip (1200 frames, 768 sampled): its patches are 202 MB of float32
// ([384·8·14, 1176]), which the whole-clip pipeline held at once (and a copy to write them: 636 MB
// peak). Streamed, one temporal slice is held and written at a time: the process stays under 120
// MB (about 45 MB measured), the bound leaving room for allocator and FFmpeg differences.
TEST(PreprocessVideoCommand, LongClipPeakMemoryIsBounded) {
  const std::vector<std::string> args = {
      "preprocess",   "--video", VideoData("long_20min_1fps.mp4"),
      "--min-pixels", "3136",    "--max-pixels",
      "25088",        "--out",   "/dev/null"};
  const CommandResult r = RunQwenvl("preprocess --video " + VideoData("long_20min_1fps.mp4") +
                                    " --min-pixels 3136 --max-pixels 25088 --out /dev/null");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("\"grid_thw\":[384,8,14]"), std::string::npos) << r.out;
  const int64_t patch_bytes = int64_t{384} * 8 * 14 * 1176 * 4;
  const int64_t peak_kib = PeakRssKib(args);
  std::printf("long clip: patches %.1f MiB, peak RSS %.1f MiB\n",
              static_cast<double>(patch_bytes) / (1 << 20), static_cast<double>(peak_kib) / 1024);
  ASSERT_GT(peak_kib, 0);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizers' allocators keep freed memory and shadow it: no RSS bound";
#endif
  constexpr int64_t kBoundKib = 120 * 1024;
  EXPECT_LT(peak_kib, kBoundKib);
  EXPECT_GT(patch_bytes / 1024, kBoundKib);  // the bound is below what the whole clip needs
}

// The streamed file equals the whole clip's tensors: a stream shorter than its header (sampled
// again, so the header's shapes change) is written from the whole clip instead; both read back as
// the media pipeline's result.
TEST(PreprocessVideoCommand, StreamedFileHoldsTheWholeClip) {
  for (const char* clip : {"bframes_gop12.mp4", "truncated_mid.mp4"}) {
    SCOPED_TRACE(clip);
    const std::string out = TempPath(std::string(clip) + ".safetensors");
    const CommandResult r =
        RunQwenvl("preprocess --video " + VideoData(clip) + " --nframes 6 --out " + out);
    ASSERT_EQ(r.status, 0) << r.out;
    const std::vector<uint8_t> file = media::testing::ReadBytes(out);
    std::filesystem::remove(out);
    const media::PreprocessedVideo whole =
        media::PreprocessVideoFile(VideoData(clip), {.nframes = 6}, {});
    const size_t bytes = whole.patches.values.size() * sizeof(float);
    ASSERT_GT(file.size(), bytes);
    // pixel_values_videos is the first tensor after the 8-byte length and the header.
    uint64_t header = 0;
    for (int i = 0; i < 8; ++i) header |= uint64_t{file[static_cast<size_t>(i)]} << (8 * i);
    ASSERT_LE(8 + header + bytes, file.size());
    EXPECT_EQ(std::memcmp(file.data() + 8 + header, whole.patches.values.data(), bytes), 0);
  }
}

}  // namespace
}  // namespace qwenvl::cli
