// Grounding answers: Qwen2.5-VL locates objects by writing JSON such as
//   ```json
//   [{"bbox_2d": [x1, y1, x2, y2], "label": "red circle"}, {"point_2d": [x, y], "label": "cup"}]
//   ```
// in absolute pixel coordinates of the picture as it was resized for the vision encoder
// (model-spec §10; the size smart_resize chose, §6.2). These functions find those items in free
// text and map them back to the original picture. Used by the server (the "qwenvl" response
// field) and the CLI.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "qwenvl/engine.h"

namespace qwenvl::runtime {

struct GroundingItem {
  enum class Kind { kBox, kPoint };
  Kind kind = Kind::kBox;
  std::string label;           // empty when the model gave none
  std::vector<double> coords;  // kBox: x1, y1, x2, y2; kPoint: x, y
};

// Every object carrying a numeric "bbox_2d" (4 numbers) or "point_2d" (2 numbers) in `answer`, in
// order. Tolerates Markdown fences, surrounding prose, a list cut short by max_tokens (the complete
// objects are kept) and objects nested in others. Malformed items are skipped, never thrown.
std::vector<GroundingItem> ParseGrounding(std::string_view answer);

// Maps an item from the resized frame (resized_width x resized_height) to the original picture:
// x * original_width / resized_width, clamped to [0, original size], corners swapped if reversed.
// A picture with a zero size leaves the coordinates unchanged (but still ordered and non-negative).
GroundingItem ToOriginalFrame(const GroundingItem& item, const MediaInfo& media);

// The resized frame with corners ordered and clamped to [0, resized size]: what ToOriginalFrame
// scales.
GroundingItem NormalizeResized(const GroundingItem& item, const MediaInfo& media);

// The picture grounding refers to: the last image of the conversation (the one a question is
// usually about), or -1 when there is none.
int GroundingMediaIndex(const std::vector<MediaInfo>& media);

}  // namespace qwenvl::runtime
