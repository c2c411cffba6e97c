#include "model/vision_encoder.h"

#include <string>

#include "model/vision_rotary.h"
#include "model/window_index.h"
#include "util/error.h"

namespace qwenvl::model {

namespace {

// Bounds a grid dimension so that t·h·w cannot overflow before the size check.
constexpr int64_t kMaxGridDim = int64_t{1} << 20;

std::string GridString(const GridThw& g) {
  return "(" + std::to_string(g.t) + ", " + std::to_string(g.h) + ", " + std::to_string(g.w) + ")";
}

// Copies the window-ordered activations x into dst in natural order (taps are natural order).
void TapNatural(const float* x, std::span<const int64_t> window_index, int64_t group,
                std::vector<float>& dst) {
  dst.resize(window_index.size() * static_cast<size_t>(group));
  ToNaturalOrder(x, window_index, group, dst.data());
}

}  // namespace

VisionEncoder::VisionEncoder(const io::ModelFolder& folder, const BindOptions& options)
    : config_(folder.config.vision),
      patch_embed_(BindLinear(folder.tensors, "visual.patch_embed.proj", Bias::kNone)),
      merger_(folder.tensors, folder.config.vision, options) {
  blocks_.reserve(static_cast<size_t>(config_.depth));
  for (int64_t i = 0; i < config_.depth; ++i)
    blocks_.emplace_back(folder.tensors, config_, i, options);
}

void VisionEncoder::CheckInputs(std::span<const float> pixel_values,
                                std::span<const GridThw> grids) const {
  const int64_t m = config_.spatial_merge_size;
  for (size_t i = 0; i < grids.size(); ++i) {
    const GridThw& g = grids[i];
    const bool in_range = g.t > 0 && g.h > 0 && g.w > 0 && g.t <= kMaxGridDim &&
                          g.h <= kMaxGridDim && g.w <= kMaxGridDim;
    if (!in_range || g.h % m != 0 || g.w % m != 0) {
      throw Error(ErrorCode::kInvalidArgument,
                  "vision grid " + std::to_string(i) + " " + GridString(g) +
                      ": t, h, w must be positive and h, w multiples of spatial_merge_size " +
                      std::to_string(m));
    }
  }
  const int64_t expected = TotalPatches(grids) * config_.patch_dim();
  if (static_cast<int64_t>(pixel_values.size()) != expected) {
    throw Error(ErrorCode::kInvalidArgument,
                "vision pixel_values: " + std::to_string(expected) + " floats expected (" +
                    std::to_string(TotalPatches(grids)) + " patches × " +
                    std::to_string(config_.patch_dim()) + "), got " +
                    std::to_string(pixel_values.size()));
  }
}

// §3.7: patch embed, window reorder, blocks, merger, inverse reorder.
std::vector<float> VisionEncoder::Encode(std::span<const float> pixel_values,
                                         std::span<const GridThw> grids, ThreadPool& pool,
                                         VisionTaps* taps,
                                         const std::function<void()>& between_blocks) const {
  CheckInputs(pixel_values, grids);
  if (taps != nullptr && !taps->enabled) taps = nullptr;
  const int64_t n = TotalPatches(grids), hidden = config_.hidden_size;
  const int64_t merge = config_.spatial_merge_size, unit = merge * merge;
  const int64_t head_dim = config_.head_dim();
  const WindowLayout layout = ComputeWindowLayout(
      grids, merge, config_.window_size / merge / config_.patch_size);  // §3.4: 4 merged tokens
  const std::vector<int64_t> window_cu = DropEmptySegments(layout.cu_window_seqlens);
  const std::vector<int64_t> frame_cu = FrameCuSeqlens(grids);
  if (taps != nullptr) {
    taps->window_index = layout.window_index;
    taps->cu_window_seqlens = layout.cu_window_seqlens;
  }

  VisionScratch scratch(config_, n);
  std::vector<float> x(static_cast<size_t>(n * hidden));  // [n, hidden], window order
  // §3.1: the Conv3d is a matmul over the flattened (c, tt, py, px) patch vector.
  ApplyLinear(patch_embed_, pixel_values.data(), n, scratch.normed.data(), pool);
  if (taps != nullptr) taps->patch_embed.assign(scratch.normed.begin(), scratch.normed.end());
  ToWindowOrder(scratch.normed.data(), layout.window_index, unit * hidden, x.data());
  const RotaryTables rope = WindowOrderRotaryTables(VisionRotaryAngles(grids, head_dim, merge),
                                                    layout.window_index, head_dim, merge);

  for (int64_t i = 0; i < config_.depth; ++i) {
    const bool full = config_.IsFullAttentionBlock(i);
    blocks_[i].Forward(
        x.data(),
        {.cu_seqlens = full ? frame_cu : window_cu, .cos = rope.cos.data(), .sin = rope.sin.data()},
        scratch, pool);
    if (taps != nullptr && i == 0)
      TapNatural(x.data(), layout.window_index, unit * hidden, taps->block0);
    if (taps != nullptr && i == config_.depth - 1) {
      TapNatural(x.data(), layout.window_index, unit * hidden, taps->block_last);
    }
    if (between_blocks) between_blocks();
  }

  const int64_t tokens = n / unit;
  std::vector<float> out(static_cast<size_t>(tokens * merger_.out_hidden()));
  const auto merger_out = static_cast<size_t>(tokens * merger_.out_hidden());
  if (scratch.qkv.size() < merger_out) scratch.qkv.resize(merger_out);
  merger_.Forward(x.data(), layout.window_index,
                  {.normed = scratch.normed, .hidden = scratch.attn, .output = scratch.qkv},
                  out.data(), pool);
  return out;
}

}  // namespace qwenvl::model
