#include "media/draw.h"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "util/error.h"

namespace qwenvl::media {

namespace {

struct Rgb {
  uint8_t r, g, b;
};

// Distinct colours, one per annotation in turn.
constexpr Rgb kPalette[] = {{230, 25, 75},  {60, 180, 75},  {0, 130, 200},  {245, 130, 48},
                            {145, 30, 180}, {70, 240, 240}, {240, 50, 230}, {210, 245, 60},
                            {255, 225, 25}, {0, 128, 128}};

// A 3×5 pixel font (rows top to bottom, bit 2 = left column), drawn scaled. Lower case is drawn
// as upper case; characters without a glyph as '?'.
struct Glyph {
  char c;
  uint8_t rows[5];
};
constexpr Glyph kFont[] = {
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}},  {'2', {7, 1, 7, 4, 7}}, {'3', {7, 1, 7, 1, 7}},
    {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}},  {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 1, 1}},
    {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 7}},  {'A', {2, 5, 7, 5, 5}}, {'B', {6, 5, 6, 5, 6}},
    {'C', {3, 4, 4, 4, 3}}, {'D', {6, 5, 5, 5, 6}},  {'E', {7, 4, 6, 4, 7}}, {'F', {7, 4, 6, 4, 4}},
    {'G', {3, 4, 5, 5, 3}}, {'H', {5, 5, 7, 5, 5}},  {'I', {7, 2, 2, 2, 7}}, {'J', {1, 1, 1, 5, 2}},
    {'K', {5, 5, 6, 5, 5}}, {'L', {4, 4, 4, 4, 7}},  {'M', {5, 7, 7, 5, 5}}, {'N', {6, 5, 5, 5, 5}},
    {'O', {2, 5, 5, 5, 2}}, {'P', {6, 5, 6, 4, 4}},  {'Q', {2, 5, 5, 6, 3}}, {'R', {6, 5, 6, 5, 5}},
    {'S', {3, 4, 2, 1, 6}}, {'T', {7, 2, 2, 2, 2}},  {'U', {5, 5, 5, 5, 7}}, {'V', {5, 5, 5, 5, 2}},
    {'W', {5, 5, 7, 7, 5}}, {'X', {5, 5, 2, 5, 5}},  {'Y', {5, 5, 2, 2, 2}}, {'Z', {7, 1, 2, 4, 7}},
    {' ', {0, 0, 0, 0, 0}}, {'.', {0, 0, 0, 0, 2}},  {',', {0, 0, 0, 2, 4}}, {'-', {0, 0, 7, 0, 0}},
    {'_', {0, 0, 0, 0, 7}}, {':', {0, 2, 0, 2, 0}},  {'(', {1, 2, 2, 2, 1}}, {')', {4, 2, 2, 2, 4}},
    {'/', {1, 1, 2, 4, 4}}, {'?', {7, 1, 2, 0, 2}},  {'!', {2, 2, 2, 0, 2}}, {'+', {0, 2, 7, 2, 0}},
    {'#', {5, 7, 5, 7, 5}}, {'\'', {2, 2, 0, 0, 0}}, {'"', {5, 5, 0, 0, 0}}, {'=', {0, 7, 0, 7, 0}},
    {'%', {5, 1, 2, 4, 5}}, {'&', {2, 5, 2, 5, 3}},
};

const Glyph& GlyphFor(char c) {
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  for (const Glyph& g : kFont)
    if (g.c == c) return g;
  return GlyphFor('?');
}

class Canvas {
 public:
  explicit Canvas(RgbImage& image) : img_(image) {}
  void Set(int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= img_.width || y >= img_.height) return;
    uint8_t* p = &img_.pixels[(static_cast<size_t>(y) * img_.width + x) * 3];
    p[0] = c.r, p[1] = c.g, p[2] = c.b;
  }
  void Fill(int x0, int y0, int x1, int y1, Rgb c) {  // inclusive-exclusive
    x0 = std::max(x0, 0), y0 = std::max(y0, 0);
    x1 = std::min(x1, img_.width), y1 = std::min(y1, img_.height);
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) Set(x, y, c);
  }
  void Text(int x, int y, const std::string& s, int scale, Rgb c) {
    for (char ch : s) {
      const Glyph& g = GlyphFor(ch);
      for (int row = 0; row < 5; ++row)
        for (int col = 0; col < 3; ++col)
          if (g.rows[row] & (4 >> col))
            Fill(x + col * scale, y + row * scale, x + (col + 1) * scale, y + (row + 1) * scale, c);
      x += 4 * scale;
    }
  }
  int width() const { return img_.width; }
  int height() const { return img_.height; }

 private:
  RgbImage& img_;
};

void DrawLabel(Canvas& canvas, int x, int y_top, const std::string& label, int scale, Rgb color) {
  if (label.empty()) return;
  const int tag_w = static_cast<int>(label.size()) * 4 * scale + 2 * scale;
  const int tag_h = 7 * scale;
  int y = y_top - tag_h;
  if (y < 0) y = y_top;  // no room above: inside the shape
  x = std::clamp(x, 0, std::max(0, canvas.width() - tag_w));
  canvas.Fill(x, y, x + tag_w, y + tag_h, color);
  const bool light = color.r * 299 + color.g * 587 + color.b * 114 > 150000;
  canvas.Text(x + scale, y + scale, label, scale, light ? Rgb{0, 0, 0} : Rgb{255, 255, 255});
}

struct PngWriter {
  png_structp png = nullptr;
  png_infop info = nullptr;
  FILE* file = nullptr;
  ~PngWriter() {
    png_destroy_write_struct(&png, info ? &info : nullptr);
    if (file) std::fclose(file);
  }
};

}  // namespace

void DrawAnnotations(RgbImage& image, const std::vector<Annotation>& annotations) {
  if (image.width <= 0 || image.height <= 0) return;
  Canvas canvas(image);
  const int shorter = std::min(image.width, image.height);
  const int thick = std::max(2, shorter / 250);
  const int scale = std::max(2, shorter / 200);
  for (size_t i = 0; i < annotations.size(); ++i) {
    const Annotation& a = annotations[i];
    const Rgb color = kPalette[i % std::size(kPalette)];
    const int x1 = static_cast<int>(std::lround(a.x1)), y1 = static_cast<int>(std::lround(a.y1));
    if (a.kind == Annotation::Kind::kPoint) {
      const int r = thick * 3;
      for (int dy = -r; dy <= r; ++dy)
        for (int dx = -r; dx <= r; ++dx)
          if (dx * dx + dy * dy <= r * r) canvas.Set(x1 + dx, y1 + dy, color);
      DrawLabel(canvas, x1 + r, y1 - r, a.label, scale, color);
      continue;
    }
    const int x2 = static_cast<int>(std::lround(a.x2)), y2 = static_cast<int>(std::lround(a.y2));
    canvas.Fill(x1, y1, x2 + 1, y1 + thick, color);
    canvas.Fill(x1, y2 + 1 - thick, x2 + 1, y2 + 1, color);
    canvas.Fill(x1, y1, x1 + thick, y2 + 1, color);
    canvas.Fill(x2 + 1 - thick, y1, x2 + 1, y2 + 1, color);
    DrawLabel(canvas, x1, y1, a.label, scale, color);
  }
}

void WritePng(const std::string& path, const RgbImage& image) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3)
    throw Error(ErrorCode::kInvalidArgument, path + ": no picture to write");
  PngWriter w;
  w.file = std::fopen(path.c_str(), "wb");
  if (!w.file) throw Error(ErrorCode::kIo, path + ": cannot create: " + std::strerror(errno));
  w.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (w.png) w.info = png_create_info_struct(w.png);
  if (!w.png || !w.info) throw Error(ErrorCode::kIo, path + ": cannot start the PNG encoder");
  if (setjmp(png_jmpbuf(w.png))) throw Error(ErrorCode::kIo, path + ": PNG write failed");
  png_init_io(w.png, w.file);
  png_set_IHDR(w.png, w.info, image.width, image.height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(w.png, w.info);
  for (int y = 0; y < image.height; ++y)
    png_write_row(w.png, image.pixels.data() + static_cast<size_t>(y) * image.width * 3);
  png_write_end(w.png, nullptr);
  if (std::fflush(w.file) != 0) throw Error(ErrorCode::kIo, path + ": write failed");
}

}  // namespace qwenvl::media
