#include "media/patchify.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "util/error.h"

namespace qwenvl::media {
namespace {

void CheckInputs(std::span<const RgbImage> frames, const PatchifyOptions& o) {
  if (o.patch_size <= 0 || o.merge_size <= 0 || o.temporal_patch <= 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "patchify: patch_size, merge_size and temporal_patch must be positive");
  }
  for (int c = 0; c < 3; ++c) {
    if (!(o.image_std[c] != 0.0f)) {
      throw Error(ErrorCode::kInvalidArgument, "patchify: image_std must be non-zero");
    }
  }
  if (frames.empty()) throw Error(ErrorCode::kInvalidArgument, "patchify: no frames");
  const int unit = o.patch_size * o.merge_size;
  const RgbImage& f0 = frames[0];
  if (f0.width <= 0 || f0.height <= 0 || f0.width % unit != 0 || f0.height % unit != 0) {
    throw Error(ErrorCode::kInvalidArgument, "patchify: frame size " + std::to_string(f0.width) +
                                                 "x" + std::to_string(f0.height) +
                                                 " is not a positive multiple of " +
                                                 std::to_string(unit));
  }
  for (const RgbImage& f : frames) {
    if (f.width != f0.width || f.height != f0.height ||
        f.pixels.size() != static_cast<size_t>(f.width) * f.height * 3) {
      throw Error(ErrorCode::kInvalidArgument,
                  "patchify: all frames must be " + std::to_string(f0.width) + "x" +
                      std::to_string(f0.height) + " RGB, got one of " + std::to_string(f.width) +
                      "x" + std::to_string(f.height));
    }
  }
}

}  // namespace

Patches Patchify(std::span<const RgbImage> frames, const PatchifyOptions& o) {
  CheckInputs(frames, o);
  const int ps = o.patch_size, ms = o.merge_size, tp = o.temporal_patch;
  const int width = frames[0].width, height = frames[0].height;
  Patches out;
  out.grid_t = (static_cast<int64_t>(frames.size()) + tp - 1) / tp;
  out.grid_h = height / ps;
  out.grid_w = width / ps;
  const int64_t cols = 3LL * tp * ps * ps;
  out.values.resize(static_cast<size_t>(out.rows() * cols));

  // One float per (channel, byte value): the same float32 expression as the reference
  // (uint8 -> f32, / 255, - mean, / std), so every element matches it exactly.
  float lut[3][256];
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      lut[c][v] = (static_cast<float>(v) / 255.0f - o.image_mean[c]) / o.image_std[c];
    }
  }
  const int64_t blocks_w = out.grid_w / ms;
  const int64_t rows_per_t = out.grid_h * out.grid_w;
  const int64_t n_frames = static_cast<int64_t>(frames.size());
  auto fill = [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      // Row r = ((t * bh_count + bh) * bw_count + bw) * ms^2 + mh * ms + mw (model-spec §6.5).
      const int64_t t = r / rows_per_t;
      const int64_t in_t = r % rows_per_t;
      const int64_t block = in_t / (ms * ms), sub = in_t % (ms * ms);
      const int64_t py0 = ((block / blocks_w) * ms + sub / ms) * ps;
      const int64_t px0 = ((block % blocks_w) * ms + sub % ms) * ps;
      float* dst = &out.values[static_cast<size_t>(r * cols)];
      for (int tt = 0; tt < tp; ++tt) {
        const int64_t f = std::min<int64_t>(t * tp + tt, n_frames - 1);  // repeat the last frame
        if (tt > 0 && f == std::min<int64_t>(t * tp + tt - 1, n_frames - 1)) {
          // The same frame again (a still image, or the padding frame): copy its block.
          for (int c = 0; c < 3; ++c) {
            std::memcpy(dst + (c * tp + tt) * ps * ps, dst + (c * tp + tt - 1) * ps * ps,
                        sizeof(float) * ps * ps);
          }
          continue;
        }
        const uint8_t* pix = frames[f].pixels.data();
        for (int py = 0; py < ps; ++py) {
          const uint8_t* src = pix + ((py0 + py) * width + px0) * 3;
          float* d0 = dst + (0 * tp + tt) * ps * ps + py * ps;
          float* d1 = dst + (1 * tp + tt) * ps * ps + py * ps;
          float* d2 = dst + (2 * tp + tt) * ps * ps + py * ps;
          for (int px = 0; px < ps; ++px) {
            d0[px] = lut[0][src[3 * px + 0]];
            d1[px] = lut[1][src[3 * px + 1]];
            d2[px] = lut[2][src[3 * px + 2]];
          }
        }
      }
    }
  };
  const int64_t rows = out.rows();
  if (o.pool != nullptr && o.pool->size() > 1 && rows >= 64) {
    o.pool->RunRanges(rows, [&](int64_t b, int64_t e, int) { fill(b, e); });
  } else {
    fill(0, rows);
  }
  return out;
}

}  // namespace qwenvl::media
