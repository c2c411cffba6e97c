#include "model/rope_index.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "util/error.h"

namespace qwenvl::model {
namespace {

constexpr int64_t kNone = std::numeric_limits<int64_t>::max();

int64_t CountBlocks(std::span<const TokenId> ids, TokenId vision_start, TokenId pad) {
  int64_t n = 0;
  for (size_t i = 0; i + 1 < ids.size(); ++i) n += ids[i] == vision_start && ids[i + 1] == pad;
  return n;
}

int64_t FindFrom(std::span<const TokenId> ids, int64_t start, TokenId token) {
  for (auto i = static_cast<size_t>(start); i < ids.size(); ++i) {
    if (ids[i] == token) return static_cast<int64_t>(i);
  }
  return kNone;
}

// Appends `len` text positions starting at st_idx to all three streams.
void AppendText(PositionIds& p, int64_t st_idx, int64_t len) {
  for (int64_t i = 0; i < len; ++i) {
    p.t.push_back(st_idx + i);
    p.h.push_back(st_idx + i);
    p.w.push_back(st_idx + i);
  }
}

int64_t NextStart(const PositionIds& p) {
  if (p.t.empty()) return 0;
  return std::max({*std::max_element(p.t.begin(), p.t.end()),
                   *std::max_element(p.h.begin(), p.h.end()),
                   *std::max_element(p.w.begin(), p.w.end())}) +
         1;
}

struct Block {
  GridThw grid;
  double spg;  // second_per_grid_t; 0 for images (§5.2)
  TokenId pad_token;
  const char* kind;
};

// One vision block's positions (§5.2): (T(it), ih, iw) + offset, row-major over the merged grid.
void AppendBlock(PositionIds& p, const Block& b, int64_t offset, int64_t merge, double tps) {
  const int64_t gh = b.grid.h / merge, gw = b.grid.w / merge;
  for (int64_t it = 0; it < b.grid.t; ++it) {
    const int64_t tt = VideoTemporalPosition(it, b.spg, tps);
    for (int64_t ih = 0; ih < gh; ++ih) {
      for (int64_t iw = 0; iw < gw; ++iw) {
        p.t.push_back(offset + tt);
        p.h.push_back(offset + ih);
        p.w.push_back(offset + iw);
      }
    }
  }
}

void CheckBlock(std::span<const TokenId> ids, int64_t ed, const Block& b, int64_t merge,
                int64_t tokens) {
  if (b.grid.t <= 0 || b.grid.h <= 0 || b.grid.w <= 0 || b.grid.h % merge != 0 ||
      b.grid.w % merge != 0) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string(b.kind) + " grid (" + std::to_string(b.grid.t) + ", " +
                    std::to_string(b.grid.h) + ", " + std::to_string(b.grid.w) +
                    ") must be positive with h and w multiples of " + std::to_string(merge));
  }
  int64_t run = 0;
  while (ed + run < static_cast<int64_t>(ids.size()) && ids[ed + run] == b.pad_token) ++run;
  if (run < tokens) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string(b.kind) + " block at token " + std::to_string(ed) +
                    ": its grid needs " + std::to_string(tokens) + " pad tokens, the prompt has " +
                    std::to_string(run));
  }
}

void CheckCounts(const char* kind, int64_t blocks, size_t grids) {
  if (blocks != static_cast<int64_t>(grids)) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("prompt has ") + std::to_string(blocks) + " " + kind +
                    " blocks (vision_start followed by a pad token), " + std::to_string(grids) +
                    " " + kind + " grids were given");
  }
}

}  // namespace

int64_t VideoTemporalPosition(int64_t it, double second_per_grid_t, double tokens_per_second) {
  // The reference multiplies float32 tensors: float(it) · spg, then · tokens_per_second (§5.3).
  const float seconds = static_cast<float>(it) * static_cast<float>(second_per_grid_t);
  const float units = seconds * static_cast<float>(tokens_per_second);
  return static_cast<int64_t>(std::trunc(units));
}

PositionIds ComputePositionIds(const io::ModelConfig& config, const RopeIndexInput& in) {
  const std::span<const TokenId> ids = in.input_ids;
  const int64_t merge = config.vision.spatial_merge_size;
  const int64_t n_img = CountBlocks(ids, config.vision_start_token_id, config.image_token_id);
  const int64_t n_vid = CountBlocks(ids, config.vision_start_token_id, config.video_token_id);
  CheckCounts("image", n_img, in.image_grids.size());
  CheckCounts("video", n_vid, in.video_grids.size());
  if (!in.second_per_grid_ts.empty() && in.second_per_grid_ts.size() != in.video_grids.size()) {
    throw Error(ErrorCode::kInvalidArgument,
                "second_per_grid_ts has " + std::to_string(in.second_per_grid_ts.size()) +
                    " values for " + std::to_string(in.video_grids.size()) + " videos");
  }
  PositionIds p;
  const auto seq_len = static_cast<int64_t>(ids.size());
  p.t.reserve(ids.size());
  p.h.reserve(ids.size());
  p.w.reserve(ids.size());
  int64_t st = 0;
  size_t image = 0, video = 0;
  for (int64_t b = 0; b < n_img + n_vid; ++b) {
    const int64_t ed_img =
        image < in.image_grids.size() ? FindFrom(ids, st, config.image_token_id) : kNone;
    const int64_t ed_vid =
        video < in.video_grids.size() ? FindFrom(ids, st, config.video_token_id) : kNone;
    const bool is_image = ed_img < ed_vid;
    const int64_t ed = is_image ? ed_img : ed_vid;
    QWENVL_CHECK(ed != kNone);  // the block counts matched the grid counts
    Block block = is_image ? Block{in.image_grids[image++], 0.0, config.image_token_id, "image"}
                           : Block{in.video_grids[video], 1.0, config.video_token_id, "video"};
    if (!is_image && !in.second_per_grid_ts.empty()) block.spg = in.second_per_grid_ts[video];
    if (!is_image) ++video;
    const int64_t tokens = block.grid.num_patches() / (merge * merge);
    CheckBlock(ids, ed, block, merge, tokens);
    const int64_t st_idx = NextStart(p);
    AppendText(p, st_idx, ed - st);  // text before the block, <|vision_start|> included
    AppendBlock(p, block, st_idx + ed - st, merge, config.vision.tokens_per_second);
    st = ed + tokens;
  }
  if (st < seq_len) AppendText(p, NextStart(p), seq_len - st);
  p.rope_delta = NextStart(p) - seq_len;
  return p;
}

}  // namespace qwenvl::model
