// Drawing located objects on a picture (boxes and points with their labels) and writing it as PNG,
// for showing grounding answers (model-spec §10).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "media/image.h"

namespace qwenvl::media {

struct Annotation {
  enum class Kind { kBox, kPoint };
  Kind kind = Kind::kBox;
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // a point uses x1, y1; pixel coordinates of the picture
  std::string label;  // drawn next to the shape (printable ASCII; others as '?')
};

// Draws every annotation in its own colour, with its label on a filled tag above the shape (inside
// the picture when the shape touches the top edge). Shapes outside the picture are clipped.
void DrawAnnotations(RgbImage& image, const std::vector<Annotation>& annotations);

// Writes 8-bit RGB PNG. Throws Error(kIo) naming the path.
void WritePng(const std::string& path, const RgbImage& image);

}  // namespace qwenvl::media
