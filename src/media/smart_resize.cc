#include "media/smart_resize.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "util/error.h"

namespace qwenvl::media {
namespace {

// Python's round() on a float: half to even. std::rint rounds in the current mode, which is
// round-to-nearest-even (the engine never changes it).
int64_t RoundHalfEven(double x) { return static_cast<int64_t>(std::rint(x)); }

}  // namespace

ResizedSize SmartResize(int64_t height, int64_t width, int64_t factor, int64_t min_pixels,
                        int64_t max_pixels) {
  if (height <= 0 || width <= 0) {
    throw Error(ErrorCode::kInvalidArgument, "smart_resize: image size must be positive, got " +
                                                 std::to_string(width) + "x" +
                                                 std::to_string(height));
  }
  if (factor <= 0 || min_pixels < 0 || max_pixels <= 0 || min_pixels > max_pixels) {
    throw Error(ErrorCode::kInvalidArgument,
                "smart_resize: bad budget (factor " + std::to_string(factor) + ", min_pixels " +
                    std::to_string(min_pixels) + ", max_pixels " + std::to_string(max_pixels) +
                    "); expected factor > 0 and 0 <= min_pixels <= max_pixels");
  }
  const double h = static_cast<double>(height);
  const double w = static_cast<double>(width);
  const double f = static_cast<double>(factor);
  if (std::max(h, w) / std::min(h, w) > kMaxAspectRatio) {
    throw Error(ErrorCode::kInvalidArgument,
                "smart_resize: aspect ratio of " + std::to_string(width) + "x" +
                    std::to_string(height) + " is above the limit of 200");
  }
  int64_t h_bar = RoundHalfEven(h / f) * factor;
  int64_t w_bar = RoundHalfEven(w / f) * factor;
  if (static_cast<double>(h_bar) * static_cast<double>(w_bar) > static_cast<double>(max_pixels)) {
    const double beta = std::sqrt(h * w / static_cast<double>(max_pixels));
    h_bar = static_cast<int64_t>(std::floor(h / beta / f)) * factor;
    w_bar = static_cast<int64_t>(std::floor(w / beta / f)) * factor;
  } else if (static_cast<double>(h_bar) * static_cast<double>(w_bar) <
             static_cast<double>(min_pixels)) {
    const double beta = std::sqrt(static_cast<double>(min_pixels) / (h * w));
    h_bar = static_cast<int64_t>(std::ceil(h * beta / f)) * factor;
    w_bar = static_cast<int64_t>(std::ceil(w * beta / f)) * factor;
  }
  // Documented deviation: never return a side below one factor (see the header).
  return ResizedSize{std::max(h_bar, factor), std::max(w_bar, factor)};
}

}  // namespace qwenvl::media
