// Bilinear resize of 8-bit RGB reproducing Pillow's Image.resize(..., BILINEAR) (written from the
// algorithm: convolution with a triangle filter over the source, support scaled by the reduction).
//
// Per axis, output sample i is centred at (i + 0.5) * scale in source coordinates, scale =
// in / out. Its weights are tri((j + 0.5 - centre) / s) over source samples j within
// [centre - support, centre + support), where s = max(scale, 1) and support = s (triangle radius
// 1 widened by s when downscaling, so every source pixel contributes: an area-like filter).
// Weights are normalised, converted to 22-bit fixed point, and applied with rounding and
// clamping to 0..255, one axis after the other through an 8-bit intermediate.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ijepa/error.hpp"
#include "ijepa/preprocess.hpp"

namespace ijepa {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

struct Coefficients {
  int ksize = 0;
  std::vector<int> first;    // first source index per output sample
  std::vector<int> count;    // number of source samples per output sample
  std::vector<int32_t> weights;  // out * ksize, fixed point
};

double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

Coefficients coefficients(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = 1.0 * filter_scale;
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  for (int i = 0; i < out_size; ++i) {
    const double centre = (i + 0.5) * scale;
    // Truncation toward zero, then clamped to the image: the sample window.
    int lo = static_cast<int>(centre - support + 0.5);
    if (lo < 0) lo = 0;
    int hi = static_cast<int>(centre + support + 0.5);
    if (hi > in_size) hi = in_size;
    const int n = hi - lo;
    double total = 0.0;
    for (int j = 0; j < n; ++j) {
      w[j] = triangle((j + lo - centre + 0.5) / filter_scale);
      total += w[j];
    }
    for (int j = 0; j < n; ++j) {
      const double v = total != 0.0 ? w[j] / total : w[j];
      c.weights[static_cast<size_t>(i) * c.ksize + j] =
          static_cast<int32_t>(v < 0 ? -0.5 + v * (1 << kPrecisionBits) : 0.5 + v * (1 << kPrecisionBits));
    }
    c.first[i] = lo;
    c.count[i] = n;
  }
  return c;
}

inline uint8_t clamp8(int64_t acc) {
  const int64_t v = acc >> kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// Resample rows [row0, row0 + rows) of `in` horizontally to `out_w` columns.
RgbImage horizontal(const RgbImage& in, int out_w, int row0, int rows, const Coefficients& c) {
  RgbImage out;
  out.width = out_w;
  out.height = rows;
  out.pixels.resize(static_cast<size_t>(out_w) * rows * 3);
  for (int y = 0; y < rows; ++y) {
    const uint8_t* src = in.pixels.data() + static_cast<size_t>(row0 + y) * in.width * 3;
    uint8_t* dst = out.pixels.data() + static_cast<size_t>(y) * out_w * 3;
    for (int x = 0; x < out_w; ++x) {
      const int32_t* k = c.weights.data() + static_cast<size_t>(x) * c.ksize;
      const uint8_t* s = src + static_cast<size_t>(c.first[x]) * 3;
      int64_t r = 1 << (kPrecisionBits - 1), g = r, b = r;
      for (int j = 0; j < c.count[x]; ++j) {
        r += s[3 * j] * static_cast<int64_t>(k[j]);
        g += s[3 * j + 1] * static_cast<int64_t>(k[j]);
        b += s[3 * j + 2] * static_cast<int64_t>(k[j]);
      }
      dst[3 * x] = clamp8(r);
      dst[3 * x + 1] = clamp8(g);
      dst[3 * x + 2] = clamp8(b);
    }
  }
  return out;
}

// Resample `in` vertically; source rows are offset by `row0` (rows the horizontal pass skipped).
RgbImage vertical(const RgbImage& in, int out_h, int row0, const Coefficients& c) {
  RgbImage out;
  out.width = in.width;
  out.height = out_h;
  out.pixels.resize(static_cast<size_t>(in.width) * out_h * 3);
  const size_t stride = static_cast<size_t>(in.width) * 3;
  for (int y = 0; y < out_h; ++y) {
    const int32_t* k = c.weights.data() + static_cast<size_t>(y) * c.ksize;
    const uint8_t* src = in.pixels.data() + static_cast<size_t>(c.first[y] - row0) * stride;
    uint8_t* dst = out.pixels.data() + static_cast<size_t>(y) * stride;
    for (size_t x = 0; x < stride; ++x) {
      int64_t acc = 1 << (kPrecisionBits - 1);
      for (int j = 0; j < c.count[y]; ++j) acc += src[j * stride + x] * static_cast<int64_t>(k[j]);
      dst[x] = clamp8(acc);
    }
  }
  return out;
}

}  // namespace

RgbImage resize_bilinear(const RgbImage& image, int width, int height) {
  if (width <= 0 || height <= 0) throw Error("resize", "target size must be positive", "width, height >= 1");
  if (image.width == width && image.height == height) return image;
  const Coefficients cx = coefficients(image.width, width);
  const Coefficients cy = coefficients(image.height, height);
  if (image.width == width) return vertical(image, height, 0, cy);
  if (image.height == height) return horizontal(image, width, 0, image.height, cx);
  // The pass that reduces more goes first (the smaller 8-bit intermediate), horizontal on a tie,
  // as Pillow orders them; the order matters for the rounding of the intermediate.
  if (static_cast<int64_t>(image.width) * height < static_cast<int64_t>(width) * image.height) {
    const RgbImage temp = vertical(image, height, 0, cy);
    return horizontal(temp, width, 0, height, cx);
  }
  // Only the source rows the vertical pass reads go through the horizontal pass.
  const int row0 = cy.first.front();
  const int row1 = cy.first.back() + cy.count.back();
  const RgbImage temp = horizontal(image, width, row0, row1 - row0, cx);
  return vertical(temp, height, row0, cy);
}

}  // namespace ijepa
