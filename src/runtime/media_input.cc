#include "runtime/media_input.h"

#include "media/image_decode.h"
#include "media/image_preprocess.h"
#include "media/video_preprocess.h"
#include "util/error.h"
#include "util/mapped_file.h"
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

PreparedMedia PrepareImage(const Media& m, const MediaSettings& s) {
  media::DecodeLimits limits;
  if (s.max_decoded_image_pixels > 0) limits.max_pixels = s.max_decoded_image_pixels;
  const media::RgbImage rgb =
      m.path.empty() ? media::DecodeImage(m.bytes, limits) : media::DecodeImageFile(m.path, limits);
  media::PatchifyOptions patchify = s.preprocessor.patchify_options();
  patchify.pool = s.pool;
  media::PreprocessedImage pre =
      media::PreprocessImage(rgb, BudgetFor(m, s.preprocessor), patchify);
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

PreparedMedia PrepareVideo(const Media& m, const MediaSettings& s) {
  media::PatchifyOptions patchify = s.preprocessor.patchify_options();
  patchify.pool = s.pool;
  const media::VideoOptions options = VideoOptionsFor(m);
  media::PreprocessedVideo pre;
  if (!m.frame_paths.empty()) {
    pre = media::PreprocessVideoFrames(m.frame_paths, options, patchify);
  } else if (!m.path.empty()) {
    pre = media::PreprocessVideoFile(m.path, options, patchify);
  } else {
    pre = media::PreprocessVideoMemory(m.bytes, "video", options, patchify);
  }
  PreparedMedia out;
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

PreparedMedia PrepareMedia(const Media& m, const MediaSettings& s) {
  const int sources = !m.path.empty() + !m.bytes.empty() + !m.frame_paths.empty();
  if (sources != 1)
    throw Error(ErrorCode::kInvalidArgument,
                "a media item needs exactly one of a path, encoded bytes or frame paths");
  if (!m.frame_paths.empty() && m.kind != Media::Kind::kVideo)
    throw Error(ErrorCode::kInvalidArgument, "frame paths are only for videos");
  PreparedMedia out = m.kind == Media::Kind::kImage ? PrepareImage(m, s) : PrepareVideo(m, s);
  out.info.kind = m.kind;
  out.info.tokens = out.tokens(s.preprocessor.merge_size);
  out.key = MediaKey(m, s);
  return out;
}

}  // namespace qwenvl::runtime
