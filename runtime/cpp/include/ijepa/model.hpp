// The facade a service uses:
//   auto model = ijepa::Model::load("artifacts/ijepa_vith14");        // OpenVINO, fp32
//   ijepa::Tensor vectors = model.embed({ijepa::ImageInput::file("cat.jpg")});   // [N, D]
// Model::embed / classify / run are safe to call from many threads at once: one compiled model,
// one infer request per concurrent call (taken from a pool, created on demand, reused).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ijepa/image.hpp"
#include "ijepa/manifest.hpp"
#include "ijepa/preprocess.hpp"
#include "ijepa/runner.hpp"

namespace ijepa {

struct LoadOptions {
  bool verify = true;             // check SHA-256 of every file opened
  // Open what did not pass its parity check (artifact, graph or engine status other than "passed"),
  // and OpenVINO INT8 on a CPU without int8 dot products (VNNI / AMX): for debugging only.
  bool allow_unverified = false;
  // Open a version-compatible TensorRT engine: it embeds host code (TensorRT's lean runtime) that runs
  // in this process. Only if you trust whoever built the file.
  bool allow_engine_host_code = false;
  int num_threads = 0;            // OpenVINO inference threads; 0 = OpenVINO's default
  std::string device = "CPU";     // OpenVINO device
  int gpu_device = 0;             // TensorRT: CUDA device ordinal
  // TensorRT: at most this many execution contexts (each with its stream and buffers), created on
  // first need; more concurrent calls wait for a free one (Python's max_concurrency, default 2).
  int max_concurrency = 2;
};

struct Label {
  std::string label;
  double prob = 0.0;
};

class Model {
 public:
  // backend: "openvino" (CPU) or "tensorrt" (GPU builds only); precision: "fp32", "fp16", "int8" or
  // "int8-cpu". OpenVINO runs the graph the Python runtime's OpenVINO backend runs: the one whose
  // manifest record has that precision and lists "openvino" under "for" (for "int8": the S8S8 graph),
  // else the graph named by the precision ("int8-cpu" only when asked). Refused unless
  // allow_unverified: an artifact, graph or engine that did not pass its parity check, and OpenVINO
  // INT8 on CPUs without VNNI / AMX. Refused unless allow_engine_host_code: a version-compatible engine.
  static Model load(const std::string& directory, const std::string& backend = "openvino",
                    const std::string& precision = "fp32", const LoadOptions& options = {});

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const Manifest& manifest() const noexcept;
  const std::string& task() const noexcept;
  const std::string& variant() const noexcept;  // the graph or engine actually run
  int max_batch() const noexcept;
  const Preprocessor& preprocessor() const noexcept;
  Runner& runner() noexcept;

  // Preprocessed pixels [N, 3, H, W] of any N >= 1, run in chunks of at most max_batch().
  Outputs run(const Tensor& pixel_values);
  // Pooled embeddings float32 [N, D] (feature-extraction artifacts).
  Tensor embed(const std::vector<ImageInput>& images);
  // Logits float32 [N, classes] (image-classification artifacts).
  Tensor logits(const std::vector<ImageInput>& images);
  // Top-k (label, probability) per image (softmax in double, like the Python runtime).
  std::vector<std::vector<Label>> classify(const std::vector<ImageInput>& images, int top_k = 5);
  std::vector<std::vector<Label>> top_k(const Tensor& logits, int k) const;

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Backends compiled into this build ("openvino", "tensorrt").
std::vector<std::string> available_backends();

}  // namespace ijepa
