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

}  // namespace

VisionEncoder::VisionEncoder(compute::Backend& backend, const io::ModelFolder& folder,
                             const BindOptions& options, const std::function<void()>& after_block)
    : backend_(&backend),
      config_(folder.config.vision),
      patch_embed_(BindLinear(backend, folder.tensors,
                              io::PatchEmbedTensors::Of(folder.config.vision).proj)),
      merger_(backend, folder.tensors, folder.config.vision, options) {
  blocks_.reserve(static_cast<size_t>(config_.depth));
  for (int64_t i = 0; i < config_.depth; ++i) {
    blocks_.emplace_back(backend, folder.tensors, config_, i, options);
    if (after_block) after_block();
  }
}

void VisionEncoder::TapNatural(const compute::Tensor& x, std::span<const int64_t> window_index,
                               std::vector<float>& dst) const {
  const int64_t unit = config_.spatial_merge_size * config_.spatial_merge_size;
  const auto tokens = static_cast<int64_t>(window_index.size());
  compute::Buffer natural = backend_->Allocate(tokens, unit * x.cols());
  backend_->ScatterRows(x.Reshape(tokens, unit * x.cols()), window_index, natural);
  dst.resize(static_cast<size_t>(natural.size()));
  backend_->Download(natural, dst);
}

std::vector<float> VisionEncoder::Encode(std::span<const float> pixel_values,
                                         std::span<const GridThw> grids, VisionTaps* taps,
                                         const std::function<void()>& between_blocks) const {
  const compute::Buffer out = EncodeToBuffer(pixel_values, grids, taps, between_blocks);
  std::vector<float> host(static_cast<size_t>(out.size()));
  backend_->Download(out, host);
  return host;
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
compute::Buffer VisionEncoder::EncodeToBuffer(std::span<const float> pixel_values,
                                              std::span<const GridThw> grids, VisionTaps* taps,
                                              const std::function<void()>& between_blocks) const {
  CheckInputs(pixel_values, grids);
  compute::Backend& b = *backend_;
  if (taps != nullptr && !taps->enabled) taps = nullptr;
  const int64_t n = TotalPatches(grids), hidden = config_.hidden_size;
  const int64_t merge = config_.spatial_merge_size, unit = merge * merge, tokens = n / unit;
  const int64_t head_dim = config_.head_dim();
  const WindowLayout layout = ComputeWindowLayout(
      grids, merge, config_.window_size / merge / config_.patch_size);  // §3.4: 4 merged tokens
  const std::vector<int64_t> window_cu = DropEmptySegments(layout.cu_window_seqlens);
  const std::vector<int64_t> frame_cu = FrameCuSeqlens(grids);
  if (taps != nullptr) {
    taps->window_index = layout.window_index;
    taps->cu_window_seqlens = layout.cu_window_seqlens;
  }

  VisionScratch s(b, config_, n);
  {
    // §3.1: the Conv3d is a matmul over the flattened (c, tt, py, px) patch vector.
    compute::Buffer pixels = b.Allocate(n, config_.patch_dim());
    b.Upload(pixel_values, pixels);
    b.MatMul(pixels, patch_embed_, s.normed);
  }
  if (taps != nullptr) {
    taps->patch_embed.resize(static_cast<size_t>(n * hidden));
    b.Download(s.normed, taps->patch_embed);
  }
  // Window order: position j holds merged token window_index[j], its unit patch rows together.
  b.GatherRows(s.normed.Reshape(tokens, unit * hidden), layout.window_index,
               s.x.Reshape(tokens, unit * hidden));
  const RotaryTables rope = WindowOrderRotaryTables(VisionRotaryAngles(grids, head_dim, merge),
                                                    layout.window_index, head_dim, merge);
  b.Upload(rope.cos, s.cos);
  b.Upload(rope.sin, s.sin);

  for (int64_t i = 0; i < config_.depth; ++i) {
    blocks_[i].Forward(config_.IsFullAttentionBlock(i) ? frame_cu : window_cu, s);
    if (taps != nullptr && i == 0) TapNatural(s.x, layout.window_index, taps->block0);
    if (taps != nullptr && i == config_.depth - 1)
      TapNatural(s.x, layout.window_index, taps->block_last);
    if (between_blocks) between_blocks();
  }

  // The blocks' tensors go before the merger's own are made, so that the peak stays that of the
  // blocks.
  const int64_t out_hidden = merger_.out_hidden();
  s.ReleaseBlockTensors();
  compute::ArenaPlan plan;
  const size_t merged_slot = plan.Add(tokens, unit * hidden);
  const size_t window_out_slot = plan.Add(tokens, out_hidden);
  const compute::Arena merger_arena(b, std::move(plan));
  compute::Buffer out = b.Allocate(tokens, out_hidden);
  merger_.Forward(s.x, layout.window_index,
                  {.normed = s.normed,
                   .hidden = merger_arena[merged_slot],
                   .output = merger_arena[window_out_slot]},
                  out);
  return out;
}

}  // namespace qwenvl::model
