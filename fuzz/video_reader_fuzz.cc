// libFuzzer target: FFmpeg demux/decode of arbitrary bytes through the engine's VideoReader (a
// custom AVIOContext over the buffer), frame by frame and sparsely (packet index, skipped frames,
// seeks), then frame sampling on whatever stream info came out. Any
// input must end in frames or in qwenvl::Error, never in a crash, a leak or a hang.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "media/video_reader.h"
#include "media/video_sampling.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace qwenvl::media;
  VideoLimits limits;
  limits.max_width = 640;  // bounds the work per input
  limits.max_height = 640;
  limits.max_frames = 256;
  limits.decoder_threads = 1;
  try {
    VideoReader reader =
        VideoReader::OpenMemory(std::span<const uint8_t>(data, size), "fuzz", limits);
    const VideoStreamInfo& info = reader.info();
    QWENVL_CHECK(info.width > 0 && info.height > 0 && info.total_frames > 0);
    std::vector<int64_t> indices = {0, 1, std::min<int64_t>(info.total_frames - 1, 255)};
    std::sort(indices.begin(), indices.end());
    const int64_t decoded = reader.DecodeFrames(
        indices,
        [](int64_t, RgbImage&& frame) {
          QWENVL_CHECK(frame.width > 0 && frame.height > 0);
          QWENVL_CHECK(frame.pixels.size() == static_cast<size_t>(frame.width) * frame.height * 3);
        },
        DecodeMode::kEveryFrame);
    QWENVL_CHECK(decoded > 0);
    // Far-apart samples: the sparse decode seeks; indices come back ascending whatever it does.
    const std::vector<int64_t> far = {0, info.total_frames / 2, info.total_frames - 1};
    int64_t last = -1;
    reader.DecodeFrames(
        far,
        [&](int64_t index, RgbImage&& frame) {
          QWENVL_CHECK(index >= last && frame.width > 0 && frame.height > 0);
          last = index;
        },
        DecodeMode::kSparse);
    const int64_t nframes = SmartNFrames({}, info.total_frames, info.fps);
    const std::vector<int64_t> sampled = SampleFrameIndices(info.total_frames, nframes);
    QWENVL_CHECK(static_cast<int64_t>(sampled.size()) == nframes);
    VideoResizedSize(info.height, info.width, {}, nframes);
  } catch (const qwenvl::Error&) {
    // Rejected input: the expected outcome for most mutations.
  }
  return 0;
}
