// Image inputs and decoding. Everything ends as 8-bit RGB, converted with the Python runtime's
// rules (runtime/preprocess.py): transparency composited onto white, greyscale and
// palette expanded, CMYK JPEG (Adobe polarity) converted, 16-bit samples scaled to 8 bits (>> 8).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ijepa {

// 8-bit RGB pixels, rows top to bottom, HWC.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3
};

// One image handed to Model::embed / Preprocessor: a file path, encoded bytes (JPEG, PNG, WebP), or
// pixels a service decoded itself (uint8 HWC with 1 = grey, 3 = RGB or 4 = RGBA channels).
class ImageInput {
 public:
  enum class Kind { File, Encoded, Pixels };

  static ImageInput file(std::string path);
  static ImageInput encoded(std::vector<uint8_t> bytes, std::string name = {});
  static ImageInput pixels(const uint8_t* data, int width, int height, int channels, std::string name = {});

  Kind kind() const noexcept { return kind_; }
  // How errors name this image: the path, or "<N bytes>" / "<array HxWxC>" like the Python runtime.
  std::string describe() const;
  RgbImage decode() const;

 private:
  Kind kind_ = Kind::File;
  std::string name_;
  std::vector<uint8_t> data_;
  int width_ = 0, height_ = 0, channels_ = 0;
};

// Decoders (throw ijepa::Error naming `subject`).
RgbImage decode_image(const uint8_t* data, size_t size, const std::string& subject);
RgbImage decode_file(const std::string& path);
RgbImage rgb_from_pixels(const uint8_t* data, int width, int height, int channels, const std::string& subject);

// The encoded formats this build decodes: "jpeg", "png" and, when built with libwebp, "webp".
std::vector<std::string> image_formats();

// Pillow's decompression-bomb limit, which the Python runtime enforces too.
inline constexpr uint64_t kMaxImagePixels = 89478485ULL;

}  // namespace ijepa
