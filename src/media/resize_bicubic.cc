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
  // Same as Pillow's clip8 (>= 255.5 -> 255, <= 0 -> 0, else >> 22) written as a clamp so that
  // it vectorizes: an arithmetic shift keeps the sign, and anything >= 2^30 shifts to >= 256.
  const int32_t v = acc >> kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// The hot loops are compiled for AVX2 as well as the baseline and picked at load time (GCC
// function multiversioning); integer math, so every version gives the same bytes.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define QWENVL_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define QWENVL_MULTIVERSION
#endif

// Rows of one horizontal strip handled together: each output pixel's taps are applied to
// kStripRows * 3 lanes at once, which vectorizes, unlike one pixel's 3 channels.
constexpr int kStripRows = 16;
constexpr int kLanes = kStripRows * 3;

// strip is [in_w][kLanes] (the strip's rows transposed); writes `rows` rows of out.
QWENVL_MULTIVERSION
void HorizontalStrip(const uint8_t* strip, const Coefficients& c, int out_w, int rows, uint8_t* out,
                     size_t out_stride) {
  for (int x = 0; x < out_w; ++x) {
    const int32_t* k = &c.weights[static_cast<size_t>(x) * c.ksize];
    const uint8_t* p = strip + static_cast<size_t>(c.first[x]) * kLanes;
    int32_t acc[kLanes];
    for (int l = 0; l < kLanes; ++l) acc[l] = 1 << (kPrecisionBits - 1);
    for (int t = 0; t < c.count[x]; ++t) {
      const int32_t w = k[t];
      for (int l = 0; l < kLanes; ++l) acc[l] += p[t * kLanes + l] * w;
    }
    for (int r = 0; r < rows; ++r) {
      uint8_t* d = out + r * out_stride + static_cast<size_t>(x) * 3;
      d[0] = Clip8(acc[3 * r]);
      d[1] = Clip8(acc[3 * r + 1]);
      d[2] = Clip8(acc[3 * r + 2]);
    }
  }
}

// dst[i] = clip(2^21 + sum_t in[t * stride + i] * k[t]) for i < n: one output row of the
// vertical pass, a contiguous vector operation. acc holds n int32.
QWENVL_MULTIVERSION
void ConvolveLine(const uint8_t* in, size_t stride, int count, const int32_t* k, size_t n,
                  int32_t* acc, uint8_t* dst) {
  for (size_t i = 0; i < n; ++i) acc[i] = 1 << (kPrecisionBits - 1);
  for (int t = 0; t < count; ++t) {
    const uint8_t* src = in + t * stride;
    const int32_t w = k[t];
    for (size_t i = 0; i < n; ++i) acc[i] += src[i] * w;
  }
  for (size_t i = 0; i < n; ++i) dst[i] = Clip8(acc[i]);
}

// Runs fn(begin, end) over [0, n) on the pool, or inline without one.
template <class Fn>
void ForRows(ThreadPool* pool, int64_t n, Fn&& fn) {
  if (pool == nullptr || pool->size() <= 1 || n < 2) {
    fn(int64_t{0}, n);
    return;
  }
  pool->RunRanges(n, [&fn](int64_t begin, int64_t end, int) { fn(begin, end); });
}

// Horizontal pass over source rows [row0, row0 + rows): out is [rows, out_w, 3]. Rows go in
// strips of kStripRows, each transposed into a small column-major buffer first.
void Horizontal(const uint8_t* in, int in_w, int row0, int rows, const Coefficients& c,
                uint8_t* out, int out_w, ThreadPool* pool) {
  const int64_t strips = (rows + kStripRows - 1) / kStripRows;
  ForRows(pool, strips, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> strip(static_cast<size_t>(in_w) * kLanes, 0);
    for (int64_t s = begin; s < end; ++s) {
      const int r0 = static_cast<int>(s) * kStripRows;
      const int n = std::min(kStripRows, rows - r0);
      for (int r = 0; r < n; ++r) {
        const uint8_t* src = in + static_cast<size_t>(row0 + r0 + r) * in_w * 3;
        uint8_t* d = strip.data() + 3 * r;
        for (int x = 0; x < in_w; ++x) {
          d[static_cast<size_t>(x) * kLanes + 0] = src[3 * x + 0];
          d[static_cast<size_t>(x) * kLanes + 1] = src[3 * x + 1];
          d[static_cast<size_t>(x) * kLanes + 2] = src[3 * x + 2];
        }
      }
      HorizontalStrip(strip.data(), c, out_w, n, out + static_cast<size_t>(r0) * out_w * 3,
                      static_cast<size_t>(out_w) * 3);
    }
  });
}

// Vertical pass: output row y mixes input rows first[y] - row_offset onwards.
void Vertical(const uint8_t* in, int width, int row_offset, const Coefficients& c, uint8_t* out,
              int out_h, ThreadPool* pool) {
  const size_t row_bytes = static_cast<size_t>(width) * 3;
  ForRows(pool, out_h, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> acc(row_bytes);
    for (int64_t y = begin; y < end; ++y) {
      ConvolveLine(in + static_cast<size_t>(c.first[y] - row_offset) * row_bytes, row_bytes,
                   c.count[y], &c.weights[static_cast<size_t>(y) * c.ksize], row_bytes, acc.data(),
                   out + static_cast<size_t>(y) * row_bytes);
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
