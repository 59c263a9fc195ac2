// WebP decoding (libwebp + libwebpdemux), as Pillow decodes it: WebPAnimDecoder with straight
// (non-premultiplied) RGBA output, the first frame of an animation; mode RGBA when the bitstream
// has alpha, else RGB. Compiled only when CMake finds libwebp (Debian libwebp-dev).
#include <webp/decode.h>
#include <webp/demux.h>

#include <cstring>
#include <memory>

#include "decoded.hpp"
#include "ijepa/error.hpp"

namespace ijepa::detail {

namespace {

Error corrupt(const std::string& subject, const std::string& why) {
  return Error(subject, "image data is corrupt or truncated (WebP: " + why + ")", "a complete image file");
}

}  // namespace

Decoded decode_webp(const uint8_t* data, size_t size, const std::string& subject) {
  WebPBitstreamFeatures features;
  const VP8StatusCode status = WebPGetFeatures(data, size, &features);
  if (status != VP8_STATUS_OK) throw corrupt(subject, "unreadable header, status " + std::to_string(status));
  const uint64_t width = static_cast<uint64_t>(features.width), height = static_cast<uint64_t>(features.height);
  if (width == 0 || height == 0) throw Error(subject, "image has zero width or height", "an image of at least 1x1 pixels");
  if (width * height > kMaxImagePixels) {
    throw Error(subject,
                "image is " + std::to_string(width) + "x" + std::to_string(height) + " = " +
                    std::to_string(width * height) + " pixels, over Pillow's decompression-bomb limit",
                "at most " + std::to_string(kMaxImagePixels) + " pixels");
  }
  WebPAnimDecoderOptions options;
  if (!WebPAnimDecoderOptionsInit(&options)) throw Error(subject, "libwebp version mismatch", "a working libwebp");
  options.color_mode = MODE_RGBA;
  options.use_threads = 0;
  const WebPData bytes{data, size};
  std::unique_ptr<WebPAnimDecoder, void (*)(WebPAnimDecoder*)> decoder(WebPAnimDecoderNew(&bytes, &options),
                                                                        &WebPAnimDecoderDelete);
  if (!decoder) throw corrupt(subject, "the decoder refused the container");
  WebPAnimInfo info;
  if (!WebPAnimDecoderGetInfo(decoder.get(), &info)) throw corrupt(subject, "no image information");
  uint8_t* canvas = nullptr;
  int timestamp = 0;
  if (!WebPAnimDecoderGetNext(decoder.get(), &canvas, &timestamp) || canvas == nullptr) {
    throw corrupt(subject, "the first frame does not decode");
  }
  Decoded out;
  out.width = static_cast<int>(info.canvas_width);
  out.height = static_cast<int>(info.canvas_height);
  if (static_cast<uint64_t>(out.width) * out.height > kMaxImagePixels || out.width == 0 || out.height == 0) {
    throw Error(subject, "WebP canvas is " + std::to_string(out.width) + "x" + std::to_string(out.height),
                "at most " + std::to_string(kMaxImagePixels) + " pixels");
  }
  const size_t pixels = static_cast<size_t>(out.width) * out.height;
  if (features.has_alpha) {
    out.mode = Mode::Rgba;
    out.data.assign(canvas, canvas + pixels * 4);
  } else {
    out.mode = Mode::Rgb;  // Pillow's RGBX raw mode: the fourth byte is dropped
    out.data.resize(pixels * 3);
    for (size_t i = 0; i < pixels; ++i) std::memcpy(&out.data[i * 3], canvas + i * 4, 3);
  }
  return out;
}

}  // namespace ijepa::detail
