#include "media/resize_bicubic.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "util/error.h"

namespace qwenvl::media {
namespace {

// Pillow's 8-bit resampler keeps 32 - 8 - 2 bits of fraction in its int32 coefficients.
constexpr int kPrecisionBits = 22;
constexpr double kBicubicSupport = 2.0;

// Keys' cubic with a = -0.5 (model-spec §6.3). The expressions keep Pillow's operation order so
// the doubles, and hence the rounded coefficients, come out identical.
double Bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Per output index: the first input index, the tap count, and `ksize` fixed-point weights.
struct Coefficients {
  int ksize = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<int32_t> weights;  // [out_size, ksize]
};

Coefficients Precompute(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = kBicubicSupport * filter_scale;
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  const double inv_scale = 1.0 / filter_scale;
  for (int i = 0; i < out_size; ++i) {
    const double center = (i + 0.5) * scale;
    // C-style truncation toward zero, as in Pillow, then clamp into the image.
    const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    const int xmax = std::min(static_cast<int>(center + support + 0.5), in_size) - xmin;
    double total = 0.0;
    for (int k = 0; k < xmax; ++k) {
      w[k] = Bicubic((k + xmin - center + 0.5) * inv_scale);
      total += w[k];
    }
    int32_t* out = &c.weights[static_cast<size_t>(i) * c.ksize];
    for (int k = 0; k < xmax; ++k) {
      const double v = total != 0.0 ? w[k] / total : w[k];
      // Round half away from zero into 22-bit fixed point.
      out[k] = static_cast<int32_t>(v < 0 ? -0.5 + v * (1 << kPrecisionBits)
                                          : 0.5 + v * (1 << kPrecisionBits));
    }
    c.first[i] = xmin;
    c.count[i] = std::max(xmax, 0);
  }
  return c;
}

inline uint8_t Clip8(int32_t acc) {
  if (acc >= (1 << kPrecisionBits << 8)) return 255;
  if (acc <= 0) return 0;
  return static_cast<uint8_t>(acc >> kPrecisionBits);
}

// Runs fn(begin, end) over [0, n) on the pool, or inline without one.
template <class Fn>
void ForRows(ThreadPool* pool, int64_t n, Fn&& fn) {
  if (pool == nullptr || pool->size() <= 1 || n < 16) {
    fn(int64_t{0}, n);
    return;
  }
  pool->RunRanges(n, [&fn](int64_t begin, int64_t end, int) { fn(begin, end); });
}

// Horizontal pass over source rows [row0, row0 + rows): out is [rows, out_w, 3].
void Horizontal(const uint8_t* in, int in_w, int row0, int rows, const Coefficients& c,
                uint8_t* out, int out_w, ThreadPool* pool) {
  ForRows(pool, rows, [&](int64_t begin, int64_t end) {
    for (int64_t y = begin; y < end; ++y) {
      const uint8_t* src = in + (static_cast<size_t>(row0 + y) * in_w) * 3;
      uint8_t* dst = out + static_cast<size_t>(y) * out_w * 3;
      for (int x = 0; x < out_w; ++x) {
        const int32_t* k = &c.weights[static_cast<size_t>(x) * c.ksize];
        const uint8_t* p = src + static_cast<size_t>(c.first[x]) * 3;
        int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
        for (int t = 0; t < c.count[x]; ++t) {
          s0 += p[3 * t + 0] * k[t];
          s1 += p[3 * t + 1] * k[t];
          s2 += p[3 * t + 2] * k[t];
        }
        dst[3 * x + 0] = Clip8(s0);
        dst[3 * x + 1] = Clip8(s1);
        dst[3 * x + 2] = Clip8(s2);
      }
    }
  });
}

// Vertical pass: output row y mixes input rows first[y] - row_offset ... ; each row is a vector
// of width*3 bytes, so the inner loop runs along a contiguous row and vectorizes.
void Vertical(const uint8_t* in, int width, int row_offset, const Coefficients& c, uint8_t* out,
              int out_h, ThreadPool* pool) {
  const size_t row_bytes = static_cast<size_t>(width) * 3;
  ForRows(pool, out_h, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> acc(row_bytes);
    for (int64_t y = begin; y < end; ++y) {
      const int32_t* k = &c.weights[static_cast<size_t>(y) * c.ksize];
      std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
      for (int t = 0; t < c.count[y]; ++t) {
        const uint8_t* src = in + static_cast<size_t>(c.first[y] - row_offset + t) * row_bytes;
        const int32_t w = k[t];
        int32_t* a = acc.data();
        for (size_t i = 0; i < row_bytes; ++i) a[i] += src[i] * w;
      }
      uint8_t* dst = out + static_cast<size_t>(y) * row_bytes;
      for (size_t i = 0; i < row_bytes; ++i) dst[i] = Clip8(acc[i]);
    }
  });
}

}  // namespace

RgbImage ResizeBicubic(const RgbImage& src, int out_width, int out_height, ThreadPool* pool) {
  if (out_width <= 0 || out_height <= 0) {
    throw Error(ErrorCode::kInvalidArgument, "resize: output size must be positive, got " +
                                                 std::to_string(out_width) + "x" +
                                                 std::to_string(out_height));
  }
  if (src.width <= 0 || src.height <= 0 ||
      src.pixels.size() != static_cast<size_t>(src.width) * src.height * 3) {
    throw Error(ErrorCode::kInvalidArgument,
                "resize: source image is empty or its pixel buffer does not match " +
                    std::to_string(src.width) + "x" + std::to_string(src.height) + "x3");
  }
  if (out_width == src.width && out_height == src.height) return src;  // PIL returns a copy.

  const bool horizontal = out_width != src.width;
  const bool vertical = out_height != src.height;
  const Coefficients cv = Precompute(src.height, out_height);
  RgbImage cur;
  const RgbImage* in = &src;
  int row_offset = 0;
  if (horizontal) {
    // Only the source rows the vertical pass will read are resampled (as Pillow does).
    const int first_row = vertical ? cv.first[0] : 0;
    const int last_row =
        vertical ? cv.first[out_height - 1] + cv.count[out_height - 1] : src.height;
    const Coefficients ch = Precompute(src.width, out_width);
    cur.width = out_width;
    cur.height = last_row - first_row;
    cur.pixels.resize(static_cast<size_t>(cur.width) * cur.height * 3);
    Horizontal(src.pixels.data(), src.width, first_row, cur.height, ch, cur.pixels.data(),
               out_width, pool);
    if (!vertical) return cur;
    in = &cur;
    row_offset = first_row;
  }
  RgbImage out;
  out.width = in->width;
  out.height = out_height;
  out.pixels.resize(static_cast<size_t>(out.width) * out.height * 3);
  Vertical(in->pixels.data(), in->width, row_offset, cv, out.pixels.data(), out_height, pool);
  return out;
}

}  // namespace qwenvl::media
