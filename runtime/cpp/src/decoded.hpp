// Internal: an image as decoded, before conversion to RGB (the Pillow mode it corresponds to).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ijepa/image.hpp"

namespace ijepa::detail {

enum class Mode { Grey, GreyAlpha, Rgb, Rgba, Cmyk };

struct Decoded {
  int width = 0;
  int height = 0;
  Mode mode = Mode::Rgb;
  std::vector<uint8_t> data;  // 8-bit samples, interleaved

  int channels() const;
};

Decoded decode_jpeg(const uint8_t* data, size_t size, const std::string& subject);
Decoded decode_png(const uint8_t* data, size_t size, const std::string& subject);
Decoded decode_webp(const uint8_t* data, size_t size, const std::string& subject);  // builds with libwebp

// The Python runtime's to_rgb(): alpha composited onto white, grey replicated, CMYK converted.
RgbImage to_rgb(Decoded decoded);

}  // namespace ijepa::detail
