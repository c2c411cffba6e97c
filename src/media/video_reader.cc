// FFmpeg demux/decode of one video stream (model-spec §7): open, count, decode only wanted frames.
#include "media/video_reader.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
}

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "media/video_frame_convert.h"
#include "util/error.h"

namespace qwenvl::media {
namespace {

// Containers the engine opens; playlists and scripts (hls, concat, ...) that would open other files
// are left out on purpose.
constexpr const char* kFormatWhitelist = "mov,mp4,matroska,webm,avi,mpegts,flv,ogg,ivf,asf";
constexpr int kAvioBufferSize = 1 << 16;

std::string AvErrorText(int rc) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(rc, text, sizeof(text));
  return text;
}

// FFmpeg logs every damaged packet to stderr; the engine reports failures through Error instead.
void QuietFfmpegLog() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_level(AV_LOG_FATAL); });
}

struct MemorySource {
  std::span<const uint8_t> data;
  int64_t pos = 0;
};

int ReadMemory(void* opaque, uint8_t* buf, int buf_size) {
  auto* src = static_cast<MemorySource*>(opaque);
  const int64_t left = static_cast<int64_t>(src->data.size()) - src->pos;
  if (left <= 0) return AVERROR_EOF;
  const int n = static_cast<int>(std::min<int64_t>(left, buf_size));
  std::memcpy(buf, src->data.data() + src->pos, static_cast<size_t>(n));
  src->pos += n;
  return n;
}

int64_t SeekMemory(void* opaque, int64_t offset, int whence) {
  auto* src = static_cast<MemorySource*>(opaque);
  const auto size = static_cast<int64_t>(src->data.size());
  if (whence & AVSEEK_SIZE) return size;
  int64_t base = 0;
  switch (whence & ~AVSEEK_FORCE) {
    case SEEK_SET:
      base = 0;
      break;
    case SEEK_CUR:
      base = src->pos;
      break;
    case SEEK_END:
      base = size;
      break;
    default:
      return AVERROR(EINVAL);
  }
  if (offset < -base || offset > size - base) return AVERROR(EINVAL);
  src->pos = base + offset;
  return src->pos;
}

struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};

// One pass over the stream from its first packet, handing the wanted frames to on_frame.
struct DecodePass {
  AVFormatContext* format;
  AVCodecContext* codec;
  int stream_index;
  const VideoLimits& limits;
  const std::string& name;
  std::span<const int64_t> indices;  // ascending
  const VideoReader::FrameCallback& on_frame;

  size_t next = 0;      // next wanted position in `indices`
  int64_t decoded = 0;  // frames the decoder has output so far
  int last_error = 0;   // the last demux/decode failure, for the message if nothing decodes
  std::unique_ptr<AVPacket, PacketDeleter> packet{av_packet_alloc()};
  std::unique_ptr<AVFrame, FrameDeleter> frame{av_frame_alloc()};
  std::unique_ptr<VideoFrameConverter> converter = nullptr;

  [[noreturn]] void Fail(ErrorCode code, const std::string& what) const {
    throw Error(code, name + ": " + what);
  }

  // Takes every frame the decoder has ready; true once all wanted frames were delivered.
  bool Drain() {
    while (next < indices.size()) {
      const int rc = avcodec_receive_frame(codec, frame.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return false;
      if (rc < 0) {  // a damaged frame: skipped, as players and the reference readers do
        last_error = rc;
        return false;
      }
      if (frame->width > limits.max_width || frame->height > limits.max_height) {
        Fail(ErrorCode::kOutOfRange, "decoded frame " + std::to_string(frame->width) + "x" +
                                         std::to_string(frame->height) + " exceeds the limit");
      }
      if (indices[next] == decoded) {
        RgbImage rgb = converter->ToRgb(*frame);
        for (; next + 1 < indices.size() && indices[next + 1] == decoded; ++next) {
          on_frame(decoded, RgbImage(rgb));
        }
        on_frame(decoded, std::move(rgb));
        ++next;
      }
      av_frame_unref(frame.get());
      if (++decoded > limits.max_frames) {
        Fail(ErrorCode::kOutOfRange,
             "more than " + std::to_string(limits.max_frames) + " frames (limit)");
      }
    }
    return true;
  }

  int64_t Run() {
    if (!packet || !frame) Fail(ErrorCode::kOutOfRange, "out of memory decoding");
    converter = std::make_unique<VideoFrameConverter>(name);
    bool done = indices.empty();
    while (!done) {
      const int rc = av_read_frame(format, packet.get());
      if (rc < 0) {
        if (rc != AVERROR_EOF) last_error = rc;  // a truncated or damaged container ends the stream
        break;
      }
      if (packet->stream_index == stream_index) {
        const int send_rc = avcodec_send_packet(codec, packet.get());
        if (send_rc < 0 && send_rc != AVERROR(EAGAIN)) last_error = send_rc;
        done = Drain();
      }
      av_packet_unref(packet.get());
    }
    if (!done) {
      avcodec_send_packet(codec, nullptr);  // flush the frames the decoder still holds
      Drain();
    }
    if (decoded == 0 && !indices.empty()) {
      Fail(ErrorCode::kCorruptFile,
           "no frame could be decoded" + (last_error ? " (" + AvErrorText(last_error) + ")" : ""));
    }
    return decoded;
  }
};

}  // namespace

struct VideoReader::State {
  std::string name;
  std::string path;  // empty for a memory source
  MemorySource memory;
  VideoLimits limits;
  AVFormatContext* format = nullptr;
  AVIOContext* avio = nullptr;
  AVCodecContext* codec = nullptr;
  int stream_index = -1;
  bool rewound = true;  // positioned at the first packet
  VideoStreamInfo info;

  ~State() { Close(); }
  void Close();
  void Open();
  void OpenContainer();
  void OpenDecoder();
  void ReadStreamInfo();
  int64_t CountPackets();
  [[noreturn]] void Fail(ErrorCode code, const std::string& what) const {
    throw Error(code, name + ": " + what);
  }
};

void VideoReader::State::Close() {
  avcodec_free_context(&codec);
  avformat_close_input(&format);
  if (avio != nullptr) {
    av_freep(&avio->buffer);
    avio_context_free(&avio);
  }
}

void VideoReader::State::OpenContainer() {
  format = avformat_alloc_context();
  if (format == nullptr) Fail(ErrorCode::kOutOfRange, "out of memory opening the container");
  if (path.empty()) {
    memory.pos = 0;
    auto* buffer = static_cast<uint8_t*>(av_malloc(kAvioBufferSize));
    avio = buffer ? avio_alloc_context(buffer, kAvioBufferSize, 0, &memory, ReadMemory, nullptr,
                                       SeekMemory)
                  : nullptr;
    if (avio == nullptr) {
      av_free(buffer);
      avformat_free_context(format);
      format = nullptr;
      Fail(ErrorCode::kOutOfRange, "out of memory opening the container");
    }
    format->pb = avio;
    format->flags |= AVFMT_FLAG_CUSTOM_IO;
  }
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "format_whitelist", kFormatWhitelist, 0);
  av_dict_set(&opts, "protocol_whitelist", "file", 0);
  // avformat_open_input frees `format` on failure.
  const int rc =
      avformat_open_input(&format, path.empty() ? nullptr : path.c_str(), nullptr, &opts);
  av_dict_free(&opts);
  if (rc < 0) {
    if (rc == AVERROR(ENOENT)) Fail(ErrorCode::kNotFound, "no such file");
    if (rc == AVERROR(EACCES) || rc == AVERROR(EIO)) Fail(ErrorCode::kIo, AvErrorText(rc));
    Fail(ErrorCode::kCorruptFile, "not a readable video container (" + AvErrorText(rc) +
                                      "); expected mp4, mov, mkv, webm, "
                                      "avi, ts, flv, ogg, ivf or asf");
  }
  const int info_rc = avformat_find_stream_info(format, nullptr);
  if (info_rc < 0)
    Fail(ErrorCode::kCorruptFile, "cannot read stream info: " + AvErrorText(info_rc));
}

void VideoReader::State::OpenDecoder() {
  stream_index = -1;
  const int best = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  auto usable = [&](unsigned i) {
    const AVStream* st = format->streams[i];
    return st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
           !(st->disposition & AV_DISPOSITION_ATTACHED_PIC);
  };
  if (best >= 0 && usable(static_cast<unsigned>(best))) stream_index = best;
  for (unsigned i = 0; stream_index < 0 && i < format->nb_streams; ++i) {
    if (usable(i)) stream_index = static_cast<int>(i);
  }
  if (stream_index < 0) {
    Fail(ErrorCode::kUnsupported, "no video stream (the file has " +
                                      std::to_string(format->nb_streams) + " other stream(s))");
  }
  const AVCodecParameters* par = format->streams[stream_index]->codecpar;
  const AVCodec* decoder = avcodec_find_decoder(par->codec_id);
  if (decoder == nullptr) {
    Fail(ErrorCode::kUnsupported, std::string("no decoder for video codec ") +
                                      avcodec_get_name(par->codec_id) + " in this FFmpeg build");
  }
  codec = avcodec_alloc_context3(decoder);
  if (codec == nullptr) Fail(ErrorCode::kOutOfRange, "out of memory opening the decoder");
  int rc = avcodec_parameters_to_context(codec, par);
  if (rc >= 0) {
    codec->thread_count = limits.decoder_threads;
    rc = avcodec_open2(codec, decoder, nullptr);
  }
  if (rc < 0) {
    Fail(ErrorCode::kCorruptFile,
         std::string("cannot open the ") + decoder->name + " decoder: " + AvErrorText(rc));
  }
}

void VideoReader::State::Open() {
  OpenContainer();
  OpenDecoder();
  rewound = true;
}

int64_t VideoReader::State::CountPackets() {
  std::unique_ptr<AVPacket, PacketDeleter> packet(av_packet_alloc());
  if (!packet) Fail(ErrorCode::kOutOfRange, "out of memory counting frames");
  int64_t count = 0;
  while (av_read_frame(format, packet.get()) >= 0) {
    if (packet->stream_index == stream_index && !(packet->flags & AV_PKT_FLAG_DISCARD)) ++count;
    av_packet_unref(packet.get());
    if (count > limits.max_frames) {
      Fail(ErrorCode::kOutOfRange,
           "more than " + std::to_string(limits.max_frames) + " frames (limit)");
    }
  }
  rewound = false;
  return count;
}

void VideoReader::State::ReadStreamInfo() {
  const AVStream* st = format->streams[stream_index];
  const AVCodecParameters* par = st->codecpar;
  if (par->width <= 0 || par->height <= 0) {
    Fail(ErrorCode::kCorruptFile, "video stream has no frame size (" + std::to_string(par->width) +
                                      "x" + std::to_string(par->height) + ")");
  }
  if (par->width > limits.max_width || par->height > limits.max_height) {
    Fail(ErrorCode::kOutOfRange, "frame size " + std::to_string(par->width) + "x" +
                                     std::to_string(par->height) + " exceeds the limit " +
                                     std::to_string(limits.max_width) + "x" +
                                     std::to_string(limits.max_height));
  }
  info.width = par->width;
  info.height = par->height;
  info.codec = codec->codec->name;
  info.container = format->iformat->name;
  // decord's get_avg_fps: avg_frame_rate, else r_frame_rate.
  AVRational rate = st->avg_frame_rate;
  if (rate.num <= 0 || rate.den <= 0) rate = st->r_frame_rate;
  info.fps = (rate.num > 0 && rate.den > 0) ? av_q2d(rate) : 0.0;
  if (st->nb_frames > 0) {
    info.total_frames = st->nb_frames;
    info.frames_from_metadata = true;
    if (info.total_frames > limits.max_frames) {
      Fail(ErrorCode::kOutOfRange, std::to_string(info.total_frames) + " frames exceed the limit " +
                                       std::to_string(limits.max_frames));
    }
  } else {
    info.total_frames = CountPackets();
    info.frames_from_metadata = false;
  }
  if (info.total_frames <= 0) Fail(ErrorCode::kCorruptFile, "the video stream has no frames");
}

VideoReader::VideoReader(std::unique_ptr<State> state) : state_(std::move(state)) {}
VideoReader::VideoReader(VideoReader&&) noexcept = default;
VideoReader& VideoReader::operator=(VideoReader&&) noexcept = default;
VideoReader::~VideoReader() = default;

const VideoStreamInfo& VideoReader::info() const { return state_->info; }

VideoReader VideoReader::OpenFile(const std::string& path, const VideoLimits& limits) {
  QuietFfmpegLog();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw Error(ErrorCode::kNotFound, path + ": no such file");
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error(ErrorCode::kIo, path + ": not a regular file");
  }
  if (std::filesystem::file_size(path, ec) == 0) {
    throw Error(ErrorCode::kCorruptFile, path + ": empty file, a video expected");
  }
  auto state = std::make_unique<State>();
  state->name = path;
  state->path = path;
  state->limits = limits;
  state->Open();
  state->ReadStreamInfo();
  return VideoReader(std::move(state));
}

VideoReader VideoReader::OpenMemory(std::span<const uint8_t> data, const std::string& name,
                                    const VideoLimits& limits) {
  QuietFfmpegLog();
  if (data.empty()) throw Error(ErrorCode::kCorruptFile, name + ": empty data, a video expected");
  auto state = std::make_unique<State>();
  state->name = name;
  state->memory.data = data;
  state->limits = limits;
  state->Open();
  state->ReadStreamInfo();
  return VideoReader(std::move(state));
}

int64_t VideoReader::DecodeFrames(std::span<const int64_t> indices, const FrameCallback& on_frame) {
  State& s = *state_;
  if (!std::is_sorted(indices.begin(), indices.end()) || (!indices.empty() && indices[0] < 0)) {
    throw Error(ErrorCode::kInvalidArgument, s.name + ": frame indices must be ascending and >= 0");
  }
  if (!s.rewound) {
    s.Close();
    s.Open();
  }
  s.rewound = false;
  DecodePass pass{.format = s.format,
                  .codec = s.codec,
                  .stream_index = s.stream_index,
                  .limits = s.limits,
                  .name = s.name,
                  .indices = indices,
                  .on_frame = on_frame};
  return pass.Run();
}

}  // namespace qwenvl::media
