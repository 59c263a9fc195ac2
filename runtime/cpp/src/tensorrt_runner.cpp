// TensorRT on GPU (TensorRT 10 and 11 C++ API; nothing here was removed in 11):
// IRuntime -> ICudaEngine -> IExecutionContext, setInputShape / setTensorAddress / enqueueV3 on
// one stream, device buffers allocated once for the profile's max shapes, pinned host mirrors.
// Compiled only with -DIJEPA_WITH_TENSORRT=ON when CMake finds the SDK. One execution context:
// run() calls are serialised by a mutex (Model::embed stays safe to call from many threads).
#include <NvInfer.h>
#include <NvInferVersion.h>
#include <cuda_runtime_api.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "backends.hpp"
#include "ijepa/error.hpp"

namespace ijepa::detail {

namespace {

void cuda_check(cudaError_t status, const std::string& what) {
  if (status != cudaSuccess) {
    throw Error("CUDA", what + " failed: " + cudaGetErrorString(status), "a working CUDA device and driver");
  }
}

std::string tensorrt_version() {
  return std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + "." +
         std::to_string(NV_TENSORRT_PATCH) + "." + std::to_string(NV_TENSORRT_BUILD);
}

// Keeps TensorRT's error messages for the exception; prints warnings and errors to stderr.
class Logger final : public nvinfer1::ILogger {
 public:
  void log(Severity severity, const nvinfer1::AsciiChar* msg) noexcept override {
    if (severity > Severity::kWARNING || msg == nullptr) return;
    const bool error = severity <= Severity::kERROR;
    if (error) {
      std::lock_guard<std::mutex> lock(mutex_);
      last_error_ = msg;
    }
    std::cerr << "[tensorrt] " << (error ? "error" : "warning") << ": " << msg << "\n";
  }
  std::string last_error() {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_error_.empty() ? "no detail from TensorRT" : last_error_;
  }

 private:
  std::mutex mutex_;
  std::string last_error_;
};

struct DeviceBuffer {
  void* device = nullptr;
  void* host = nullptr;  // pinned
  size_t capacity_bytes = 0;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (device) cudaFree(device);
    if (host) cudaFreeHost(host);
  }
};

int64_t volume(const nvinfer1::Dims& dims) {
  int64_t n = 1;
  for (int32_t i = 0; i < dims.nbDims; ++i) n *= dims.d[i];
  return n;
}

class TensorRTRunner final : public Runner {
 public:
  TensorRTRunner(const std::string& path, const Manifest& manifest, const EngineRecord& record,
                 const std::string& artifact, const std::string& variant, const LoadOptions& options)
      : Runner(manifest.inputs, manifest.outputs, manifest.min_batch, manifest.max_batch), path_(path) {
    const std::string hint = tensorrt_rebuild_hint(artifact, variant);
    cuda_check(cudaSetDevice(options.gpu_device), "cudaSetDevice");
    cudaDeviceProp prop{};
    cuda_check(cudaGetDeviceProperties(&prop, options.gpu_device), "cudaGetDeviceProperties");
    const std::string cc = std::to_string(prop.major) + "." + std::to_string(prop.minor);
    const std::string problem = tensorrt_compatibility_problem(record, tensorrt_version(), cc);
    if (!problem.empty()) throw Error(path, problem, hint);

    std::ifstream in(path, std::ios::binary);
    const std::vector<char> blob((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    runtime_.reset(nvinfer1::createInferRuntime(logger_));
    if (!runtime_) throw Error(path, "TensorRT could not create a runtime: " + logger_.last_error(), hint);
    // A version-compatible plan embeds its lean runtime as host code: allowed only on the caller's
    // explicit opt-in (Model::load refused it before, without LoadOptions::allow_engine_host_code).
    runtime_->setEngineHostCodeAllowed(record.version_compatible && options.allow_engine_host_code);
    engine_.reset(runtime_->deserializeCudaEngine(blob.data(), blob.size()));
    if (!engine_) {
      throw Error(path, "TensorRT could not deserialize the engine (built by another TensorRT version or for "
                        "another GPU?): " + logger_.last_error(), hint);
    }
    int max_batch = manifest.max_batch, min_batch = manifest.min_batch;
    std::map<std::string, nvinfer1::Dims> max_shapes;
    for (int32_t i = 0; i < engine_->getNbIOTensors(); ++i) {
      const char* name = engine_->getIOTensorName(i);
      if (engine_->getTensorDataType(name) != nvinfer1::DataType::kFLOAT) {
        throw Error(path, std::string("engine tensor ") + name + " is not float32",
                    "float32 inputs and outputs as in the manifest (" + hint + ")");
      }
      if (engine_->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT) {
        const nvinfer1::Dims lo = engine_->getProfileShape(name, 0, nvinfer1::OptProfileSelector::kMIN);
        const nvinfer1::Dims hi = engine_->getProfileShape(name, 0, nvinfer1::OptProfileSelector::kMAX);
        min_batch = std::max(min_batch, static_cast<int>(lo.d[0]));
        max_batch = std::min(max_batch, static_cast<int>(hi.d[0]));
        max_shapes[name] = hi;
        input_names_.push_back(name);
      } else {
        output_names_.push_back(name);
      }
    }
    if (input_names_.size() != 1 || input_names_[0] != inputs().at(0).name) {
      throw Error(path, "engine inputs do not match the manifest", "input " + inputs().at(0).name + " (" + hint + ")");
    }
    set_batch_range(min_batch, max_batch);
    context_.reset(engine_->createExecutionContext());
    if (!context_) {
      throw Error(path, "TensorRT could not create an execution context (out of GPU memory?)",
                  "enough free GPU memory for the engine");
    }
    if (!context_->setInputShape(input_names_[0].c_str(), max_shapes[input_names_[0]])) {
      throw Error(path, "engine rejects its own max input shape", hint);
    }
    for (const auto& name : output_names_) max_shapes[name] = context_->getTensorShape(name.c_str());
    cuda_check(cudaStreamCreate(&stream_), "cudaStreamCreate");
    for (const auto& [name, dims] : max_shapes) {
      auto buffer = std::make_unique<DeviceBuffer>();
      buffer->capacity_bytes = static_cast<size_t>(volume(dims)) * sizeof(float);
      cuda_check(cudaMalloc(&buffer->device, buffer->capacity_bytes), "cudaMalloc for " + name);
      cuda_check(cudaMallocHost(&buffer->host, buffer->capacity_bytes), "cudaMallocHost for " + name);
      buffers_[name] = std::move(buffer);
    }
  }

  ~TensorRTRunner() override {
    context_.reset();
    engine_.reset();
    runtime_.reset();
    if (stream_) cudaStreamDestroy(stream_);
  }

  std::string backend() const override { return "tensorrt"; }

 protected:
  Outputs run_checked(const Tensor& input) override {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string& in_name = input_names_[0];
    DeviceBuffer& in = *buffers_.at(in_name);
    nvinfer1::Dims dims{};
    dims.nbDims = static_cast<int32_t>(input.shape.size());
    for (int32_t i = 0; i < dims.nbDims; ++i) dims.d[i] = input.shape[i];
    if (!context_->setInputShape(in_name.c_str(), dims)) {
      throw Error("input " + in_name, "shape rejected by the engine", "a shape within the engine's profile");
    }
    const size_t in_bytes = input.data.size() * sizeof(float);
    std::memcpy(in.host, input.data.data(), in_bytes);
    cuda_check(cudaMemcpyAsync(in.device, in.host, in_bytes, cudaMemcpyHostToDevice, stream_), "copy to the GPU");
    for (auto& [name, buffer] : buffers_) context_->setTensorAddress(name.c_str(), buffer->device);
    if (!context_->enqueueV3(stream_)) {
      throw Error(path_, "TensorRT execution failed: " + logger_.last_error(), "inputs within the engine's profile");
    }
    Outputs result;
    std::map<std::string, nvinfer1::Dims> shapes;
    for (const TensorSpec& spec : outputs()) {
      const nvinfer1::Dims shape = context_->getTensorShape(spec.name.c_str());
      shapes[spec.name] = shape;
      DeviceBuffer& out = *buffers_.at(spec.name);
      cuda_check(cudaMemcpyAsync(out.host, out.device, static_cast<size_t>(volume(shape)) * sizeof(float),
                                 cudaMemcpyDeviceToHost, stream_), "copy from the GPU");
    }
    cuda_check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    for (const TensorSpec& spec : outputs()) {
      const nvinfer1::Dims& shape = shapes[spec.name];
      Tensor& out = result[spec.name];
      out.shape.assign(shape.d, shape.d + shape.nbDims);
      const float* host = static_cast<const float*>(buffers_.at(spec.name)->host);
      out.data.assign(host, host + volume(shape));
    }
    return result;
  }

 private:
  std::string path_;
  Logger logger_;
  std::unique_ptr<nvinfer1::IRuntime> runtime_;
  std::unique_ptr<nvinfer1::ICudaEngine> engine_;
  std::unique_ptr<nvinfer1::IExecutionContext> context_;
  cudaStream_t stream_ = nullptr;
  std::vector<std::string> input_names_, output_names_;
  std::map<std::string, std::unique_ptr<DeviceBuffer>> buffers_;
  std::mutex mutex_;
};

}  // namespace

std::unique_ptr<Runner> make_tensorrt_runner(const std::string& engine_path, const Manifest& manifest,
                                             const EngineRecord& record, const std::string& artifact,
                                             const std::string& variant, const LoadOptions& options) {
  return std::make_unique<TensorRTRunner>(engine_path, manifest, record, artifact, variant, options);
}

}  // namespace ijepa::detail
