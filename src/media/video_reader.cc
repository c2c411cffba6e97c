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
#include <optional>

#include "media/video_frame_convert.h"
#include "media/video_packet_index.h"
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
  DecodeStats& stats;

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
      ++stats.frames_out;
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
        ++stats.packets_sent;
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

// A pass that feeds the decoder only the packet runs the wanted frames depend on (PacketIndex),
// recognising each output frame by its timestamp. Run() returns false, with `next` the first wanted
// frame not delivered, as soon as the stream does not decode as indexed; the caller then decodes
// the rest frame by frame.
struct SparsePass {
  AVFormatContext* format;
  AVCodecContext* codec;
  int stream_index;
  const VideoLimits& limits;
  const std::string& name;
  const PacketIndex& index;
  std::span<const int64_t> indices;  // ascending, each < index.frames()
  const VideoReader::FrameCallback& on_frame;
  DecodeStats& stats;

  size_t next = 0;
  int64_t read_pos = -1;             // decode position of the last packet of the stream read
  std::vector<char> wanted_at = {};  // by decode position: a wanted frame's packet
  std::unique_ptr<AVPacket, PacketDeleter> packet{av_packet_alloc()};
  std::unique_ptr<AVFrame, FrameDeleter> frame{av_frame_alloc()};
  std::unique_ptr<VideoFrameConverter> converter = nullptr;

  // Packets closer than this are read and dropped rather than sought past: a seek costs a drain of
  // the decoder's pipeline and a demuxer reposition.
  static constexpr int64_t kSeekGap = 16;

  bool Wanted(int64_t f) const { return std::binary_search(indices.begin(), indices.end(), f); }

  // Takes the frames the decoder has ready; false when one is not what the index says.
  bool Receive() {
    while (true) {
      const int rc = avcodec_receive_frame(codec, frame.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return true;
      if (rc < 0) return false;  // a damaged frame: counted frame by frame instead
      ++stats.frames_out;
      if (frame->width > limits.max_width || frame->height > limits.max_height) {
        throw Error(ErrorCode::kOutOfRange,
                    name + ": decoded frame " + std::to_string(frame->width) + "x" +
                        std::to_string(frame->height) + " exceeds the limit");
      }
      const int64_t pts = frame->pts != AV_NOPTS_VALUE ? frame->pts : frame->best_effort_timestamp;
      const int64_t f = pts == AV_NOPTS_VALUE ? -1 : index.FrameOfPts(pts);
      if (f < 0) return false;
      if (next < indices.size() && f == indices[next]) {
        RgbImage rgb = converter->ToRgb(*frame);
        for (; next + 1 < indices.size() && indices[next + 1] == f; ++next) {
          on_frame(f, RgbImage(rgb));
        }
        on_frame(f, std::move(rgb));
        ++next;
      } else if (next < indices.size() && f > indices[next] && Wanted(f)) {
        return false;  // a wanted frame was passed over
      }
      av_frame_unref(frame.get());
    }
  }

  // Reads the next packet of the stream into `packet`; false at the end or on a packet the index
  // does not know.
  bool ReadPacket() {
    while (true) {
      if (av_read_frame(format, packet.get()) < 0) return false;
      if (packet->stream_index == stream_index) {
        read_pos = packet->pts == AV_NOPTS_VALUE ? -1 : index.PositionOfPts(packet->pts);
        if (read_pos < 0) {
          av_packet_unref(packet.get());
          return false;
        }
        return true;
      }
      av_packet_unref(packet.get());
    }
  }

  // Puts the demuxer just before packet `pos`.
  bool SeekTo(int64_t pos) {
    if (pos > read_pos + kSeekGap) {
      const PacketEntry& key = index.packets()[static_cast<size_t>(pos)];
      const int64_t ts = key.dts != kNoTimestamp ? std::min(key.dts, key.pts) : key.pts;
      ++stats.seeks;
      if (av_seek_frame(format, stream_index, ts, AVSEEK_FLAG_BACKWARD) < 0) return false;
      read_pos = -1;
      // The demuxer lands on a key packet at or before ts; the packets up to pos are dropped.
      // Landing after pos would lose frames: the pass gives way.
      while (true) {
        const int64_t before = read_pos;
        if (!ReadPacket()) return false;
        if (read_pos == pos) return true;
        av_packet_unref(packet.get());
        if (read_pos > pos || (before >= 0 && read_pos < before)) return false;
      }
    }
    while (read_pos + 1 < pos) {
      if (!ReadPacket()) return false;
      av_packet_unref(packet.get());
    }
    return ReadPacket() && read_pos == pos;
  }

  // Feeds the packet in `packet` (at read_pos), non-reference frames skipped unless wanted.
  bool Feed() {
    codec->skip_frame =
        wanted_at[static_cast<size_t>(read_pos)] ? AVDISCARD_DEFAULT : AVDISCARD_NONREF;
    const int rc = avcodec_send_packet(codec, packet.get());
    av_packet_unref(packet.get());
    ++stats.packets_sent;
    if (rc < 0 && rc != AVERROR(EAGAIN)) return false;
    return Receive();
  }

  // Outputs what the decoder holds and makes it ready for a run that does not follow on.
  bool DrainAndReset() {
    avcodec_send_packet(codec, nullptr);
    const bool ok = Receive();
    avcodec_flush_buffers(codec);
    return ok;
  }

  bool Run() {
    if (!packet || !frame) throw Error(ErrorCode::kOutOfRange, name + ": out of memory decoding");
    converter = std::make_unique<VideoFrameConverter>(name);
    wanted_at.assign(index.packets().size(), 0);
    for (const int64_t f : indices) wanted_at[static_cast<size_t>(index.PositionOfFrame(f))] = 1;
    const std::vector<PacketRun> runs = index.RunsFor(indices);
    bool ok = true;
    for (size_t r = 0; ok && r < runs.size(); ++r) {
      const PacketRun& run = runs[r];
      // A run that starts right after the last packet read goes on without a break.
      if (run.begin != read_pos + 1) {
        ok = (read_pos < 0 || DrainAndReset()) && SeekTo(run.begin) && Feed();
      }
      while (ok && read_pos + 1 < run.end) ok = ReadPacket() && Feed();
      // Every wanted frame of the run is out once the decoder is drained; the next run's frames
      // come after (runs are in decode order and frames in presentation order agree at keys).
      const bool last = r + 1 == runs.size();
      const bool gap = !last && runs[r + 1].begin != read_pos + 1;
      if (ok && (last || gap)) {
        ok = DrainAndReset();
        if (ok && next < indices.size() && index.PositionOfFrame(indices[next]) < run.end) {
          ok = false;
        }
      }
    }
    codec->skip_frame = AVDISCARD_DEFAULT;
    return ok && next == indices.size();
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
  std::optional<PacketIndex> index;  // built by the first sparse decode
  DecodeStats stats;

  ~State() { Close(); }
  void Close();
  void Open();
  void OpenContainer();
  void OpenDecoder();
  void ReadStreamInfo();
  int64_t CountPackets();
  void Rewind() {
    if (!rewound) {
      Close();
      Open();
    }
    rewound = false;
  }
  const PacketIndex& Index();
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
    codec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
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

const PacketIndex& VideoReader::State::Index() {
  if (index) return *index;
  Rewind();
  std::unique_ptr<AVPacket, PacketDeleter> packet(av_packet_alloc());
  if (!packet) Fail(ErrorCode::kOutOfRange, "out of memory indexing packets");
  std::vector<PacketEntry> entries;
  while (av_read_frame(format, packet.get()) >= 0) {
    if (packet->stream_index == stream_index) {
      entries.push_back({.pts = packet->pts == AV_NOPTS_VALUE ? kNoTimestamp : packet->pts,
                         .dts = packet->dts == AV_NOPTS_VALUE ? kNoTimestamp : packet->dts,
                         .key = (packet->flags & AV_PKT_FLAG_KEY) != 0,
                         .discard = (packet->flags & AV_PKT_FLAG_DISCARD) != 0});
    }
    av_packet_unref(packet.get());
    if (static_cast<int64_t>(entries.size()) > limits.max_frames) {
      Fail(ErrorCode::kOutOfRange,
           "more than " + std::to_string(limits.max_frames) + " frames (limit)");
    }
  }
  index.emplace(std::move(entries));
  return *index;
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

const DecodeStats& VideoReader::last_stats() const { return state_->stats; }

int64_t VideoReader::DecodeFrames(std::span<const int64_t> indices, const FrameCallback& on_frame,
                                  DecodeMode mode) {
  State& s = *state_;
  if (!std::is_sorted(indices.begin(), indices.end()) || (!indices.empty() && indices[0] < 0)) {
    throw Error(ErrorCode::kInvalidArgument, s.name + ": frame indices must be ascending and >= 0");
  }
  s.stats = {};
  size_t delivered = 0;
  if (mode == DecodeMode::kSparse && !indices.empty()) {
    const PacketIndex& index = s.Index();
    // Frames past the indexed ones (a truncated stream) are counted by decoding, as kEveryFrame
    // does.
    if (index.usable() && indices.back() < index.frames()) {
      s.Rewind();
      SparsePass pass{.format = s.format,
                      .codec = s.codec,
                      .stream_index = s.stream_index,
                      .limits = s.limits,
                      .name = s.name,
                      .index = index,
                      .indices = indices,
                      .on_frame = on_frame,
                      .stats = s.stats};
      if (pass.Run()) {
        s.stats.sparse = true;
        return indices.back() + 1;
      }
      delivered = pass.next;
      s.stats.fell_back = true;
    }
  }
  s.Rewind();
  DecodePass pass{.format = s.format,
                  .codec = s.codec,
                  .stream_index = s.stream_index,
                  .limits = s.limits,
                  .name = s.name,
                  .indices = indices.subspan(delivered),
                  .on_frame = on_frame,
                  .stats = s.stats};
  return pass.Run();
}

}  // namespace qwenvl::media
