// The Python runtime's Preprocessor in C++: to RGB, resize (Pillow bilinear), then
// float32(uint8 * rescale_factor computed in double), (x - mean) / std in float32, CHW.
#include "ijepa/preprocess.hpp"

#include <array>
#include <utility>

#include "ijepa/error.hpp"

namespace ijepa {

Preprocessor::Preprocessor(PreprocessConfig config) : config_(std::move(config)) {}

void Preprocessor::one(const RgbImage& image, float* out, const std::string& subject) const {
  const PreprocessConfig& cfg = config_;
  const RgbImage* src = &image;
  RgbImage resized;
  if (image.width != cfg.width || image.height != cfg.height) {
    if (!cfg.do_resize) {
      throw Error(subject, "image is " + std::to_string(image.width) + "x" + std::to_string(image.height),
                  std::to_string(cfg.width) + "x" + std::to_string(cfg.height) + " (resizing is off in this contract)");
    }
    resized = resize_bilinear(image, cfg.width, cfg.height);
    src = &resized;
  }
  // Every uint8 value maps to one float per channel: a table gives the same bits as the
  // element-wise numpy expression.
  std::array<std::array<float, 256>, 3> table;
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      float x = cfg.do_rescale ? static_cast<float>(static_cast<double>(v) * cfg.rescale_factor) : static_cast<float>(v);
      if (cfg.do_normalize) x = (x - cfg.image_mean[c]) / cfg.image_std[c];
      table[c][v] = x;
    }
  }
  const size_t plane = static_cast<size_t>(cfg.width) * cfg.height;
  const uint8_t* px = src->pixels.data();
  for (size_t i = 0; i < plane; ++i) {
    out[i] = table[0][px[3 * i]];
    out[plane + i] = table[1][px[3 * i + 1]];
    out[2 * plane + i] = table[2][px[3 * i + 2]];
  }
}

std::vector<float> Preprocessor::operator()(const std::vector<ImageInput>& images) const {
  if (images.empty()) throw Error("images", "no images given", "at least one image");
  std::vector<float> batch(values_per_image() * images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    one(images[i].decode(), batch.data() + i * values_per_image(), images[i].describe());
  }
  return batch;
}

}  // namespace ijepa
