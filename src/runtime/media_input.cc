#include "runtime/media_input.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "media/image_decode.h"
#include "media/image_preprocess.h"
#include "media/image_probe.h"
#include "media/smart_resize.h"
#include "media/video_preprocess.h"
#include "media/video_reader.h"
#include "media/video_sampling.h"
#include "util/error.h"
#include "util/mapped_file.h"
#include "util/memory.h"
#include "util/sha256.h"

namespace qwenvl::runtime {

namespace {

void HashOptional(Sha256& h, const char* name, const std::optional<int64_t>& v) {
  h.Update(std::string(name) + "=" + (v ? std::to_string(*v) : "-") + ";");
}

void HashFile(Sha256& h, const std::string& path) {
  MappedFile f(path);
  h.Update(std::span(f.data(), f.size()));
}

media::ImageBudget BudgetFor(const Media& m, const media::PreprocessorConfig& config) {
  media::ImageBudget b = media::ImageBudgetFromConfig(config);
  if (m.min_pixels) b.min_pixels = *m.min_pixels;
  if (m.max_pixels) b.max_pixels = *m.max_pixels;
  if (m.resized_height.has_value() != m.resized_width.has_value())
    throw Error(ErrorCode::kInvalidArgument, "resized_height and resized_width go together");
  b.resized_height = m.resized_height;
  b.resized_width = m.resized_width;
  if (b.min_pixels <= 0 || b.max_pixels < b.min_pixels)
    throw Error(ErrorCode::kInvalidArgument,
                "min_pixels must be positive and not above max_pixels (min_pixels " +
                    std::to_string(b.min_pixels) + ", max_pixels " + std::to_string(b.max_pixels) +
                    ")");
  return b;
}

media::VideoOptions VideoOptionsFor(const Media& m) {
  media::VideoOptions o;
  if (m.fps) o.fps = *m.fps;
  o.nframes = m.nframes;
  o.min_frames = m.min_frames;
  o.max_frames = m.max_frames;
  o.min_pixels = m.min_pixels;
  o.max_pixels = m.max_pixels;
  o.total_pixels = m.total_pixels;
  o.resized_height = m.resized_height;
  o.resized_width = m.resized_width;
  return o;
}

media::DecodeLimits ImageLimits(const MediaSettings& s) {
  media::DecodeLimits limits;
  if (s.max_decoded_image_pixels > 0) limits.max_pixels = s.max_decoded_image_pixels;
  return limits;
}

// Vision tokens of `frames` frames of the resized size: temporal patches (an odd count is padded)
// times the merged patches of one frame, as Patchify and the merger count them.
int64_t TokensOf(int64_t frames, int64_t resized_height, int64_t resized_width,
                 const media::PreprocessorConfig& config) {
  const int64_t grid_t = (frames + config.temporal_patch_size - 1) / config.temporal_patch_size;
  const int64_t grid_h = resized_height / config.patch_size;
  const int64_t grid_w = resized_width / config.patch_size;
  return grid_t * grid_h * grid_w / (int64_t{config.merge_size} * config.merge_size);
}

// Resized frames held at once: a video's one temporal slice (media::StreamVideo*).
int64_t HeldFrames(const MediaPlan& plan, const media::PreprocessorConfig& config) {
  return plan.kind == Media::Kind::kVideo
             ? std::min<int64_t>(plan.frames, config.temporal_patch_size)
             : plan.frames;
}

void FinishPlan(MediaPlan& plan, const media::PreprocessorConfig& config) {
  plan.tokens = TokensOf(plan.frames, plan.resized_height, plan.resized_width, config);
  plan.held_frames = HeldFrames(plan, config);
  plan.pixel_bytes =
      3 * (plan.width * plan.height + plan.held_frames * plan.resized_width * plan.resized_height);
}

// The size PreprocessImage will choose (the same smart_resize call).
MediaPlan PlanImage(const MediaProbe& probe, const Media& m,
                    const media::PreprocessorConfig& config) {
  const media::ImageBudget budget = BudgetFor(m, config);
  const media::ResizedSize size = media::SmartResize(
      budget.resized_height.value_or(probe.height), budget.resized_width.value_or(probe.width),
      config.factor(), budget.min_pixels, budget.max_pixels);
  MediaPlan plan;
  plan.kind = Media::Kind::kImage;
  plan.width = probe.width;
  plan.height = probe.height;
  plan.resized_width = size.width;
  plan.resized_height = size.height;
  FinishPlan(plan, config);
  return plan;
}

// The size every image of a frame list is resized to: the image path's smart_resize (image
// defaults unless the item sets min/max_pixels), or a requested size rounded with the image
// defaults, as PreprocessVideoFrames resizes them (model-spec §7.3 "Frame lists").
media::FrameSize FrameListSize(const MediaProbe& probe, const media::VideoOptions& options) {
  if (options.resized_height || options.resized_width) {
    return media::VideoResizedSize(static_cast<int>(probe.height), static_cast<int>(probe.width),
                                   options, media::kFrameFactor);
  }
  const media::ResizedSize rs =
      media::SmartResize(probe.height, probe.width, media::kVideoSizeFactor,
                         options.min_pixels.value_or(media::kDefaultMinPixels),
                         options.max_pixels.value_or(media::kDefaultMaxPixels));
  return {static_cast<int>(rs.height), static_cast<int>(rs.width)};
}

MediaPlan PlanVideo(const MediaProbe& probe, const Media& m,
                    const media::PreprocessorConfig& config) {
  const media::VideoOptions options = VideoOptionsFor(m);
  MediaPlan plan;
  plan.kind = Media::Kind::kVideo;
  plan.frame_list = probe.frame_list;
  plan.width = probe.width;
  plan.height = probe.height;
  plan.total_frames = probe.total_frames;
  media::FrameSize size;
  if (probe.frame_list) {
    plan.frames = probe.total_frames;
    size = FrameListSize(probe, options);
  } else {
    plan.frames = media::SmartNFrames(options, probe.total_frames, probe.video_fps);
    size = media::VideoResizedSize(static_cast<int>(probe.height), static_cast<int>(probe.width),
                                   options, plan.frames);
  }
  plan.resized_width = size.width;
  plan.resized_height = size.height;
  FinishPlan(plan, config);
  return plan;
}

// The plan PreprocessVideo* hands its check: the same numbers, from the decoder's own plan.
MediaPlan PlanFromVideoPlan(const media::VideoPlan& video, bool frame_list,
                            const media::PreprocessorConfig& config) {
  MediaPlan plan;
  plan.kind = Media::Kind::kVideo;
  plan.frame_list = frame_list;
  plan.width = video.orig_width;
  plan.height = video.orig_height;
  plan.total_frames = video.total_frames;
  plan.frames = video.nframes;
  plan.resized_width = video.resized.width;
  plan.resized_height = video.resized.height;
  FinishPlan(plan, config);
  return plan;
}

media::ImageHeader ProbeItem(const Media& m, const MediaSettings& s) {
  return m.path.empty() ? media::ProbeImage(m.bytes, ImageLimits(s))
                        : media::ProbeImageFile(m.path, ImageLimits(s));
}

PreparedMedia PrepareImage(const Media& m, const MediaSettings& s) {
  const media::ImageHeader header = ProbeItem(m, s);
  const MediaPlan plan = PlanImage(
      MediaProbe{.kind = Media::Kind::kImage, .width = header.width, .height = header.height}, m,
      s.preprocessor);
  CheckMediaBudget(std::span(&plan, 1), 0, s);
  media::DecodeLimits limits = ImageLimits(s);
  limits.expected_width = header.width;
  limits.expected_height = header.height;
  media::PatchifyOptions patchify = s.preprocessor.patchify_options();
  patchify.pool = s.pool;
  media::PreprocessedImage pre;
  {
    const media::RgbImage rgb = m.path.empty() ? media::DecodeImage(m.bytes, limits)
                                               : media::DecodeImageFile(m.path, limits);
    pre = media::PreprocessImage(rgb, BudgetFor(m, s.preprocessor), patchify);
  }
  PreparedMedia out;
  out.kind = Media::Kind::kImage;
  out.grid = {pre.patches.grid_t, pre.patches.grid_h, pre.patches.grid_w};
  out.info.original_width = pre.orig_width;
  out.info.original_height = pre.orig_height;
  out.info.resized_width = pre.resized.width;
  out.info.resized_height = pre.resized.height;
  out.patches = std::move(pre.patches);
  return out;
}

PreparedMedia PrepareVideo(const Media& m, const MediaSettings& s, const SliceProgress& on_slice) {
  media::PatchifyOptions patchify = s.preprocessor.patchify_options();
  patchify.pool = s.pool;
  const media::VideoOptions options = VideoOptionsFor(m);
  const bool frame_list = !m.frame_paths.empty();
  const media::VideoPlanCheck check = [&](const media::VideoPlan& video) {
    const MediaPlan plan = PlanFromVideoPlan(video, frame_list, s.preprocessor);
    CheckMediaBudget(std::span(&plan, 1), 0, s);
  };
  media::PreprocessedVideo pre;
  PreparedMedia out;
  if (s.video_encoder != nullptr) {
    auto features = std::make_shared<std::vector<float>>();
    int64_t slices = 0;
    const media::VideoPlanCheck restart = [&](const media::VideoPlan& video) {
      check(video);
      features->clear();  // a second decode pass starts over
      const MediaPlan plan = PlanFromVideoPlan(video, frame_list, s.preprocessor);
      features->reserve(
          static_cast<size_t>(plan.tokens * s.video_encoder->config().out_hidden_size));
      slices = (plan.frames + 1) / 2;  // frames are padded to an even count
    };
    const media::VideoSliceCallback encode = [&](media::VideoSlice&& slice) {
      const model::GridThw grid{1, slice.patches.grid_h, slice.patches.grid_w};
      const std::vector<float> rows =
          s.video_encoder->Encode(slice.patches.values, std::span(&grid, 1));
      features->insert(features->end(), rows.begin(), rows.end());
      if (on_slice) on_slice(slice.t + 1, std::max(slices, slice.t + 1));
    };
    if (frame_list) {
      pre = media::StreamVideoFrames(m.frame_paths, options, patchify, ImageLimits(s), restart,
                                     encode);
    } else if (!m.path.empty()) {
      pre = media::StreamVideoFile(m.path, options, patchify, {}, restart, encode);
    } else {
      pre = media::StreamVideoMemory(m.bytes, "video", options, patchify, {}, restart, encode);
    }
    out.features = std::move(features);
  } else if (frame_list) {
    pre = media::PreprocessVideoFrames(m.frame_paths, options, patchify, ImageLimits(s), check);
  } else if (!m.path.empty()) {
    pre = media::PreprocessVideoFile(m.path, options, patchify, {}, check);
  } else {
    pre = media::PreprocessVideoMemory(m.bytes, "video", options, patchify, {}, check);
  }
  out.kind = Media::Kind::kVideo;
  out.grid = {pre.patches.grid_t, pre.patches.grid_h, pre.patches.grid_w};
  out.second_per_grid_t = pre.second_per_grid_ts;
  out.info.original_width = pre.orig_width;
  out.info.original_height = pre.orig_height;
  out.info.resized_width = pre.resized_width;
  out.info.resized_height = pre.resized_height;
  out.info.frame_indices = pre.frame_indices;
  out.info.second_per_grid_t = pre.second_per_grid_ts;
  out.patches = std::move(pre.patches);
  return out;
}

void CheckSources(const Media& m) {
  const int sources = !m.path.empty() + !m.bytes.empty() + !m.frame_paths.empty();
  if (sources != 1)
    throw Error(ErrorCode::kInvalidArgument,
                "a media item needs exactly one of a path, encoded bytes or frame paths");
  if (!m.frame_paths.empty() && m.kind != Media::Kind::kVideo)
    throw Error(ErrorCode::kInvalidArgument, "frame paths are only for videos");
}

std::string Mib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

// Gives freed memory back on every way out of the scope that decoded.
struct ReleaseFreeMemoryOnExit {
  ReleaseFreeMemoryOnExit() = default;
  ReleaseFreeMemoryOnExit(const ReleaseFreeMemoryOnExit&) = delete;
  ReleaseFreeMemoryOnExit& operator=(const ReleaseFreeMemoryOnExit&) = delete;
  ~ReleaseFreeMemoryOnExit() { ReleaseFreeMemory(); }
};

}  // namespace

std::string MediaKey(const Media& m, const MediaSettings& s) {
  Sha256 h;
  h.Update(m.kind == Media::Kind::kImage ? "image;" : "video;");
  if (!m.path.empty()) HashFile(h, m.path);
  h.Update(std::span(m.bytes.data(), m.bytes.size()));
  for (const auto& f : m.frame_paths) HashFile(h, f);
  HashOptional(h, "min", m.min_pixels);
  HashOptional(h, "max", m.max_pixels);
  HashOptional(h, "rh", m.resized_height);
  HashOptional(h, "rw", m.resized_width);
  HashOptional(h, "nf", m.nframes);
  HashOptional(h, "minf", m.min_frames);
  HashOptional(h, "maxf", m.max_frames);
  HashOptional(h, "tp", m.total_pixels);
  h.Update("fps=" + (m.fps ? std::to_string(*m.fps) : std::string("-")));
  h.Update("cfg=" + std::to_string(s.preprocessor.min_pixels) + "," +
           std::to_string(s.preprocessor.max_pixels));
  return h.FinishHex();
}

std::string MediaPlan::Describe() const {
  const std::string size = std::to_string(width) + "x" + std::to_string(height);
  std::string text;
  if (kind == Media::Kind::kImage) {
    text = "image " + size;
  } else if (frame_list) {
    text = "video of " + std::to_string(frames) + " frames of " + size;
  } else {
    text = "video " + size + ", " + std::to_string(frames) + " of " + std::to_string(total_frames) +
           " frames sampled";
  }
  return text + " resized to " + std::to_string(resized_width) + "x" +
         std::to_string(resized_height) + ", " + std::to_string(tokens) + " tokens";
}

MediaProbe ProbeMedia(const Media& m, const MediaSettings& s) {
  CheckSources(m);
  MediaProbe probe;
  probe.kind = m.kind;
  if (m.kind == Media::Kind::kImage) {
    const media::ImageHeader header = ProbeItem(m, s);
    probe.width = header.width;
    probe.height = header.height;
    return probe;
  }
  if (!m.frame_paths.empty()) {
    // Every image's header, and the check that they resize to one size under these settings.
    const media::VideoPlan list =
        media::PlanVideoFrames(m.frame_paths, VideoOptionsFor(m), ImageLimits(s));
    probe.frame_list = true;
    probe.width = list.orig_width;
    probe.height = list.orig_height;
    probe.total_frames = list.total_frames;
    return probe;
  }
  const media::VideoReader reader = m.path.empty()
                                        ? media::VideoReader::OpenMemory(m.bytes, "video")
                                        : media::VideoReader::OpenFile(m.path);
  const media::VideoStreamInfo& info = reader.info();
  probe.width = info.width;
  probe.height = info.height;
  probe.total_frames = info.total_frames;
  probe.video_fps = info.fps;
  return probe;
}

MediaPlan PlanFromProbe(const MediaProbe& probe, const Media& m,
                        const media::PreprocessorConfig& config) {
  return probe.kind == Media::Kind::kImage ? PlanImage(probe, m, config)
                                           : PlanVideo(probe, m, config);
}

MediaPlan PlanMedia(const Media& m, const MediaSettings& s) {
  return PlanFromProbe(ProbeMedia(m, s), m, s.preprocessor);
}

void CheckMediaBudget(std::span<const MediaPlan> plans, int64_t text_tokens,
                      const MediaSettings& s) {
  if (s.max_media_pixel_bytes > 0) {
    for (const MediaPlan& plan : plans) {
      if (plan.pixel_bytes > s.max_media_pixel_bytes) {
        throw Error(ErrorCode::kOutOfRange,
                    plan.Describe() + ": decoding it would hold " + Mib(plan.pixel_bytes) +
                        " of pixels at once (a full-size frame and " +
                        std::to_string(plan.held_frames) + " resized), above the limit of " +
                        Mib(s.max_media_pixel_bytes) + "; send a smaller picture or fewer frames");
      }
    }
  }
  if (s.token_budget <= 0) return;
  int64_t media_tokens = 0;
  for (const MediaPlan& plan : plans) media_tokens += plan.tokens;
  if (media_tokens + text_tokens < s.token_budget) return;
  // Every item is named, up to a few; a request with more lists the first ones.
  constexpr size_t kNamed = 8;
  std::string items;
  for (size_t i = 0; i < plans.size() && i < kNamed; ++i) {
    items += (i ? "; " : "") + plans[i].Describe();
  }
  if (plans.size() > kNamed) items += "; and " + std::to_string(plans.size() - kNamed) + " more";
  throw Error(
      ErrorCode::kOutOfRange,
      "the media need " + std::to_string(media_tokens) + " vision tokens (" + items + ")" +
          (text_tokens > 0 ? " and the text " + std::to_string(text_tokens) + " more" : "") +
          ", but the context holds " + std::to_string(s.token_budget) +
          " tokens; lower max_pixels (for a video total_pixels, fps or nframes), send "
          "fewer frames, or raise the context length");
}

void CheckRequestMedia(std::span<const Media* const> media, int64_t text_tokens,
                       const MediaSettings& s) {
  std::vector<MediaPlan> plans;
  plans.reserve(media.size());
  for (const Media* m : media) plans.push_back(PlanMedia(*m, s));
  CheckMediaBudget(plans, text_tokens, s);
}

PreparedMedia PrepareMedia(const Media& m, const MediaSettings& s, const SliceProgress& on_slice) {
  CheckSources(m);
  const ReleaseFreeMemoryOnExit release;
  PreparedMedia out =
      m.kind == Media::Kind::kImage ? PrepareImage(m, s) : PrepareVideo(m, s, on_slice);
  out.info.kind = m.kind;
  out.info.tokens = out.tokens(s.preprocessor.merge_size);
  out.key = MediaKey(m, s);
  return out;
}

}  // namespace qwenvl::runtime
