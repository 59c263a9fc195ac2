// Model: manifest + checksums + status check, a Preprocessor and one Runner; embed / classify
// run any number of images in chunks of at most the artifact's max batch (as the Python runtime).
#include "ijepa/model.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <optional>
#include <sstream>

#include "backends.hpp"
#include "gates.hpp"
#include "ijepa/error.hpp"

namespace ijepa {

struct Model::Impl {
  std::string directory;
  Manifest manifest;
  std::string variant;
  Preprocessor preprocessor;
  std::unique_ptr<Runner> runner;

  Impl(std::string dir, Manifest m, std::string v, std::unique_ptr<Runner> r)
      : directory(std::move(dir)),
        manifest(std::move(m)),
        variant(std::move(v)),
        preprocessor(manifest.preprocessing),
        runner(std::move(r)) {}
};

namespace {

template <class Map>
std::string names(const Map& map) {
  std::ostringstream out;
  out << "[";
  bool first = true;
  for (const auto& item : map) {
    out << (first ? "'" : ", '") << item.first << "'";
    first = false;
  }
  out << "]";
  return out.str();
}

}  // namespace

std::vector<std::string> available_backends() {
  std::vector<std::string> out;
#ifdef IJEPA_HAVE_OPENVINO
  out.push_back("openvino");
#endif
#ifdef IJEPA_HAVE_TENSORRT
  out.push_back("tensorrt");
#endif
  return out;
}

namespace {

// The first gate that refuses, unless the caller opted in (Python's check_verified order).
void apply(std::optional<Error> problem, bool allowed) {
  if (problem && !allowed) throw *problem;
}

std::unique_ptr<Runner> open_openvino(const std::string& directory, const Manifest& manifest, const std::string& variant,
                                      const std::string& precision, const LoadOptions& options) {
  apply(detail::graph_problem(directory, manifest, variant), options.allow_unverified);
  auto graph = manifest.graphs.find(variant);
  if (graph == manifest.graphs.end()) {
    throw Error(directory, "artifact has no " + variant + " graph",
                "one of " + names(manifest.graphs) + " (export with --" + variant + ")");
  }
  const std::vector<std::string> files = graph->second.openvino_files();
  if (options.verify) verify_files(directory, manifest, files);
  const std::string path = resolve_inside(directory, files.front());
  apply(detail::openvino_int8_problem(manifest, variant, precision), options.allow_unverified);
#ifdef IJEPA_HAVE_OPENVINO
  return detail::make_openvino_runner(path, manifest, options);
#else
  (void)path;
  throw Error("backend", "this build of the C++ runtime has no OpenVINO backend",
              "a build configured with -DIJEPA_WITH_OPENVINO=ON");
#endif
}

std::unique_ptr<Runner> open_tensorrt(const std::string& directory, const Manifest& manifest,
                                      const std::string& precision, const LoadOptions& options) {
  auto engine = manifest.engines.find(precision);
  if (engine == manifest.engines.end()) {
    throw Error(directory, "artifact has no " + precision + " TensorRT engine",
                "one of " + names(manifest.engines) + " (build it on this GPU host: ijepa-build " + directory +
                    " --variant " + precision + ")");
  }
  apply(detail::engine_problem(directory, engine->second, precision), options.allow_unverified);
  if (options.verify) verify_files(directory, manifest, {engine->second.file});
  const std::string path = resolve_inside(directory, engine->second.file);
  apply(detail::host_code_problem(engine->second, path, directory, precision), options.allow_engine_host_code);
#ifdef IJEPA_HAVE_TENSORRT
  return detail::make_tensorrt_runner(path, manifest, engine->second, directory, precision, options);
#else
  throw Error("backend", "this build of the C++ runtime has no TensorRT backend",
              "a build configured with -DIJEPA_WITH_TENSORRT=ON -DTensorRT_ROOT=<sdk> on a host with TensorRT");
#endif
}

}  // namespace

Model Model::load(const std::string& directory, const std::string& backend, const std::string& precision,
                  const LoadOptions& options) {
  if (backend != "openvino" && backend != "tensorrt") {
    throw Error("backend", "unknown backend '" + backend + "'", "one of ['openvino', 'tensorrt']");
  }
  Manifest manifest = read_manifest(directory);
  apply(detail::artifact_problem(directory, manifest), options.allow_unverified);
  std::string variant = precision;
  std::unique_ptr<Runner> runner;
  if (backend == "openvino") {
    variant = detail::openvino_variant(manifest, precision);
    runner = open_openvino(directory, manifest, variant, precision, options);
  } else {
    runner = open_tensorrt(directory, manifest, precision, options);
  }
  return Model(std::make_unique<Impl>(directory, std::move(manifest), variant, std::move(runner)));
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

const Manifest& Model::manifest() const noexcept { return impl_->manifest; }
const std::string& Model::task() const noexcept { return impl_->manifest.task; }
const std::string& Model::variant() const noexcept { return impl_->variant; }
int Model::max_batch() const noexcept { return impl_->runner->max_batch(); }
const Preprocessor& Model::preprocessor() const noexcept { return impl_->preprocessor; }
Runner& Model::runner() noexcept { return *impl_->runner; }

Outputs Model::run(const Tensor& pixels) {
  Runner& runner = *impl_->runner;
  if (pixels.shape.size() != 4 || pixels.shape[0] <= runner.max_batch()) return runner.run(pixels);
  const int64_t n = pixels.shape[0];
  const int64_t per_image = pixels.count() / n;
  if (static_cast<int64_t>(pixels.data.size()) != pixels.count()) return runner.run(pixels);  // precise error
  Outputs merged;
  for (int64_t start = 0; start < n; start += runner.max_batch()) {
    const int64_t size = std::min<int64_t>(runner.max_batch(), n - start);
    Tensor chunk;
    chunk.shape = pixels.shape;
    chunk.shape[0] = size;
    chunk.data.assign(pixels.data.begin() + start * per_image, pixels.data.begin() + (start + size) * per_image);
    for (auto& [name, part] : runner.run(chunk)) {
      Tensor& out = merged[name];
      if (out.shape.empty()) {
        out.shape = part.shape;
        out.shape[0] = 0;
      }
      out.shape[0] += part.shape[0];
      out.data.insert(out.data.end(), part.data.begin(), part.data.end());
    }
  }
  return merged;
}

namespace {
Tensor images_to_pixels(const Preprocessor& pre, const std::vector<ImageInput>& images) {
  Tensor pixels;
  pixels.data = pre(images);
  pixels.shape = {static_cast<int64_t>(images.size()), 3, pre.config().height, pre.config().width};
  return pixels;
}
}  // namespace

Tensor Model::embed(const std::vector<ImageInput>& images) {
  if (task() != "feature-extraction") {
    throw Error(impl_->directory, "artifact task is " + task(),
                "a feature-extraction artifact for embed() (use classify())");
  }
  return run(images_to_pixels(impl_->preprocessor, images)).at("embedding");
}

Tensor Model::logits(const std::vector<ImageInput>& images) {
  if (task() != "image-classification") {
    throw Error(impl_->directory, "artifact task is " + task(),
                "an image-classification artifact for classify() (use embed())");
  }
  return run(images_to_pixels(impl_->preprocessor, images)).at("logits");
}

std::vector<std::vector<Label>> Model::classify(const std::vector<ImageInput>& images, int k) {
  return top_k(logits(images), k);
}

std::vector<std::vector<Label>> Model::top_k(const Tensor& logits, int k) const {
  const int64_t rows = logits.shape.at(0);
  const int64_t classes = logits.shape.at(1);
  const int64_t keep = std::max<int64_t>(1, std::min<int64_t>(k, classes));
  std::vector<std::vector<Label>> result;
  std::vector<double> probs(classes);
  std::vector<int64_t> order(classes);
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = logits.data.data() + r * classes;
    double top = -INFINITY;
    for (int64_t c = 0; c < classes; ++c) top = std::max(top, static_cast<double>(row[c]));
    double total = 0.0;
    for (int64_t c = 0; c < classes; ++c) total += probs[c] = std::exp(static_cast<double>(row[c]) - top);
    for (double& p : probs) p /= total;
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return probs[a] > probs[b]; });
    std::vector<Label> labels;
    for (int64_t i = 0; i < keep; ++i) {
      const int64_t c = order[i];
      auto name = impl_->manifest.id2label.find(static_cast<int>(c));
      labels.push_back({name != impl_->manifest.id2label.end() ? name->second : std::to_string(c), probs[c]});
    }
    result.push_back(std::move(labels));
  }
  return result;
}

}  // namespace ijepa
