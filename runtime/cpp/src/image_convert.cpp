// Conversion to 8-bit RGB with the Python runtime's rules (runtime/preprocess.py: to_rgb), and
// the ImageInput variants. Integer arithmetic follows Pillow's conversions so results are exact.
#include <utility>

#include "decoded.hpp"
#include "ijepa/error.hpp"

namespace ijepa {
namespace detail {

namespace {

// x / 255 rounded, for 0 <= x <= 255 * 255 (+128 bias inside): the usual shift trick.
inline int div255_round(int x) {
  const int t = x + 128;
  return ((t >> 8) + t) >> 8;
}

// Source-over compositing of (value, alpha) onto opaque white, in 7-bit fixed point as Pillow's
// alpha_composite does: coef1 = a * 255^2 * 2^7 / (255 * 255), result divided by 255 and rounded.
inline uint8_t over_white(int value, int alpha) {
  if (alpha == 0) return 255;
  constexpr unsigned kBits = 7;
  const unsigned blend = 255u * (255u - static_cast<unsigned>(alpha));
  const unsigned out_a255 = static_cast<unsigned>(alpha) * 255u + blend;
  const unsigned coef1 = static_cast<unsigned>(alpha) * 255u * 255u * (1u << kBits) / out_a255;
  const unsigned coef2 = 255u * (1u << kBits) - coef1;
  const unsigned tmp = static_cast<unsigned>(value) * coef1 + 255u * coef2 + (0x80u << kBits);
  return static_cast<uint8_t>((((tmp >> 8) + tmp) >> 8) >> kBits);
}

}  // namespace

RgbImage to_rgb(Decoded decoded) {
  RgbImage out;
  out.width = decoded.width;
  out.height = decoded.height;
  const size_t n = static_cast<size_t>(decoded.width) * decoded.height;
  if (decoded.mode == Mode::Rgb) {
    out.pixels = std::move(decoded.data);
    return out;
  }
  out.pixels.resize(n * 3);
  const uint8_t* in = decoded.data.data();
  uint8_t* px = out.pixels.data();
  switch (decoded.mode) {
    case Mode::Grey:
      for (size_t i = 0; i < n; ++i) px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = in[i];
      break;
    case Mode::GreyAlpha:
      for (size_t i = 0; i < n; ++i) px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = over_white(in[2 * i], in[2 * i + 1]);
      break;
    case Mode::Rgba:
      for (size_t i = 0; i < n; ++i) {
        for (int c = 0; c < 3; ++c) px[3 * i + c] = over_white(in[4 * i + c], in[4 * i + 3]);
      }
      break;
    case Mode::Cmyk:
      // JPEG CMYK is stored inverted (Adobe polarity, which Pillow always assumes).
      // RGB = (255 - C) * (255 - K) / 255, rounded: nk - C * nk / 255 with nk = 255 - K.
      for (size_t i = 0; i < n; ++i) {
        const int nk = in[4 * i + 3];
        for (int c = 0; c < 3; ++c) {
          const int cyan = 255 - in[4 * i + c];
          const int v = nk - div255_round(cyan * nk);
          px[3 * i + c] = static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
        }
      }
      break;
    case Mode::Rgb:
      break;
  }
  return out;
}

}  // namespace detail

RgbImage rgb_from_pixels(const uint8_t* data, int width, int height, int channels, const std::string& subject) {
  if (data == nullptr || width <= 0 || height <= 0) {
    throw Error(subject, "no pixels (null data or zero size)", "uint8 HWC pixels of at least 1x1");
  }
  if (static_cast<uint64_t>(width) * height > kMaxImagePixels) {
    throw Error(subject, "image has more pixels than the decompression-bomb limit",
                "at most " + std::to_string(kMaxImagePixels) + " pixels");
  }
  detail::Decoded decoded;
  decoded.width = width;
  decoded.height = height;
  switch (channels) {
    case 1: decoded.mode = detail::Mode::Grey; break;
    case 3: decoded.mode = detail::Mode::Rgb; break;
    case 4: decoded.mode = detail::Mode::Rgba; break;
    default:
      throw Error(subject, "pixels have " + std::to_string(channels) + " channels",
                  "(H, W, C) uint8 with C in 1, 3, 4 (channels last, RGB order)");
  }
  decoded.data.assign(data, data + static_cast<size_t>(width) * height * channels);
  return detail::to_rgb(std::move(decoded));
}

ImageInput ImageInput::file(std::string path) {
  ImageInput in;
  in.kind_ = Kind::File;
  in.name_ = std::move(path);
  return in;
}

ImageInput ImageInput::encoded(std::vector<uint8_t> bytes, std::string name) {
  ImageInput in;
  in.kind_ = Kind::Encoded;
  in.name_ = std::move(name);
  in.data_ = std::move(bytes);
  return in;
}

ImageInput ImageInput::pixels(const uint8_t* data, int width, int height, int channels, std::string name) {
  ImageInput in;
  in.kind_ = Kind::Pixels;
  in.name_ = std::move(name);
  in.width_ = width;
  in.height_ = height;
  in.channels_ = channels;
  if (data != nullptr && width > 0 && height > 0 && channels > 0) {
    in.data_.assign(data, data + static_cast<size_t>(width) * height * channels);
  }
  return in;
}

std::string ImageInput::describe() const {
  if (!name_.empty()) return name_;
  if (kind_ == Kind::Encoded) return "<" + std::to_string(data_.size()) + " bytes>";
  if (kind_ == Kind::Pixels) {
    return "<array uint8 (" + std::to_string(height_) + ", " + std::to_string(width_) + ", " +
           std::to_string(channels_) + ")>";
  }
  return "<image>";
}

RgbImage ImageInput::decode() const {
  switch (kind_) {
    case Kind::File: return decode_file(name_);
    case Kind::Encoded: return decode_image(data_.data(), data_.size(), describe());
    case Kind::Pixels:
      return rgb_from_pixels(data_.empty() ? nullptr : data_.data(), width_, height_, channels_, describe());
  }
  throw Error(describe(), "unknown input kind", "a file, encoded bytes or pixels");
}

}  // namespace ijepa
