// Demuxing and decoding a video file with FFmpeg's libraries, keeping only the frames asked for
// (model-spec §7) and decoding little else (DecodeMode). Frames come out as 8-bit RGB converted by
// swscale the way the reference readers (decord, torchvision/PyAV) convert them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "media/image.h"

namespace qwenvl::media {

// Bounds on what a reader accepts; a file beyond them is refused with Error(kOutOfRange).
struct VideoLimits {
  int max_width = 16384;
  int max_height = 16384;
  int64_t max_frames = 1 << 20;  // frames counted or decoded
  int decoder_threads = 0;       // 0: FFmpeg chooses (frame and slice threads)
};

// How DecodeFrames reaches the wanted frames.
enum class DecodeMode {
  // Feeds the decoder only the packets the wanted frames depend on: frames are numbered by
  // presentation time from an index of the stream's packets (one demux pass, no decoding), the
  // packets between samples that no sample refers to are skipped (skip_frame = AVDISCARD_NONREF
  // for the frames that are not wanted), and the demuxer seeks to the key packet before a sample
  // when the samples lie further apart than the key packets. Each frame delivered is checked
  // against the index by its timestamp; a stream whose packets cannot be indexed (no or repeated
  // timestamps, a first packet that is not a key) or that does not decode as indexed goes on with
  // kEveryFrame from where it was, so the frames delivered are the same either way.
  kSparse,
  // Decodes every frame from the first and counts the frames the decoder outputs.
  kEveryFrame,
};

// What the last DecodeFrames call did (tests and benchmarks read it).
struct DecodeStats {
  bool sparse = false;       // the sparse decode delivered every frame
  bool fell_back = false;    // the sparse decode gave way to kEveryFrame
  int64_t packets_sent = 0;  // packets fed to the decoder
  int64_t frames_out = 0;    // frames the decoder output (skipped frames are not output)
  int64_t seeks = 0;         // av_seek_frame calls
};

struct VideoStreamInfo {
  int width = 0;  // of the stream (coded parameters); frames that differ are still converted
  int height = 0;
  int64_t total_frames = 0;  // see frames_from_metadata
  double fps = 0.0;          // average frame rate, 0 if the container gives none
  // true: total_frames is the stream's nb_frames (mp4, mov, avi); false: counted by demuxing every
  // packet of the stream once (mkv, webm and others without a frame count).
  bool frames_from_metadata = false;
  std::string codec;      // FFmpeg decoder name, e.g. "h264"
  std::string container;  // FFmpeg demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
};

class VideoReader {
 public:
  // Opens a file, finds its video stream and its decoder, and reads the frame count and frame rate.
  // Throws Error: kNotFound/kIo (file), kCorruptFile (not a readable container, no frame),
  // kUnsupported (no video stream, no decoder in this FFmpeg build), kOutOfRange (limits).
  static VideoReader OpenFile(const std::string& path, const VideoLimits& limits = {});
  // The same from bytes in memory (custom AVIOContext); `name` is used in messages. `data` must
  // outlive the reader.
  static VideoReader OpenMemory(std::span<const uint8_t> data, const std::string& name,
                                const VideoLimits& limits = {});

  VideoReader(VideoReader&&) noexcept;
  VideoReader& operator=(VideoReader&&) noexcept;
  ~VideoReader();

  const VideoStreamInfo& info() const;

  // Calls on_frame(index, frame) for every frame whose index (0-based, in presentation order as the
  // decoder outputs it) is in `indices` (ascending; repeats allowed, each gets its own call). Stops
  // after the last wanted index. Returns the last wanted index + 1 when every frame arrived, or the
  // number of frames the stream decodes to when it ends early (truncated file, frame count
  // metadata too large). Throws Error(kCorruptFile) if no frame at all can be
  // decoded. The reader rewinds to the start first, so it may be called again.
  using FrameCallback = std::function<void(int64_t index, RgbImage&& frame)>;
  int64_t DecodeFrames(std::span<const int64_t> indices, const FrameCallback& on_frame,
                       DecodeMode mode = DecodeMode::kSparse);

  const DecodeStats& last_stats() const;

 private:
  struct State;
  explicit VideoReader(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace qwenvl::media
