// Images -> the float32 NCHW batch the graph expects, per the artifact's PreprocessConfig.
// Matches the Python runtime's Preprocessor to within 1e-6 (see tests/runtime/cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "ijepa/image.hpp"
#include "ijepa/manifest.hpp"

namespace ijepa {

// Pillow-style bilinear resize of 8-bit RGB: a separable triangle filter whose support widens
// by the scale factor when downscaling, fixed-point coefficients, the more-reducing axis first.
RgbImage resize_bilinear(const RgbImage& image, int width, int height);

class Preprocessor {
 public:
  explicit Preprocessor(PreprocessConfig config);

  const PreprocessConfig& config() const noexcept { return config_; }
  size_t values_per_image() const noexcept { return static_cast<size_t>(3) * config_.height * config_.width; }

  // Writes values_per_image() floats (CHW) for one decoded image.
  void one(const RgbImage& image, float* out, const std::string& subject) const;
  // Decodes and preprocesses a batch: [N, 3, H, W] flattened. Throws on zero images.
  std::vector<float> operator()(const std::vector<ImageInput>& images) const;

 private:
  PreprocessConfig config_;
};

}  // namespace ijepa
