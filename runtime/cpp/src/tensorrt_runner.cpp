// TensorRT on GPU (TensorRT 10 and 11 C++ API; nothing here was removed in 11):
// IRuntime -> ICudaEngine -> a pool of execution contexts, as the Python runner: each concurrent
// run() borrows a slot (IExecutionContext, CUDA stream, device buffers for the profile's max shapes
// with their addresses bound once, pinned host mirrors), created on first need up to
// LoadOptions::max_concurrency (default 2, Python's DEFAULT_MAX_CONCURRENCY); more callers wait for
// a free slot. A slot that cannot be created (out of GPU memory) lowers the limit to what fits.
// Compiled only with -DIJEPA_WITH_TENSORRT=ON when CMake finds the SDK: NOT compiled or run on the
// machine this was written on (no TensorRT SDK there); tested under pytest -m gpu on GPU hosts.
#include <NvInfer.h>
#include <NvInferVersion.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <condition_variable>
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

// What one run() needs to itself; buffer addresses are bound to the context once.
struct Slot {
  std::unique_ptr<nvinfer1::IExecutionContext> context;
  cudaStream_t stream = nullptr;
  std::map<std::string, std::unique_ptr<DeviceBuffer>> buffers;

  Slot(nvinfer1::ICudaEngine& engine, const std::map<std::string, nvinfer1::Dims>& max_shapes,
       const std::string& path) {
    context.reset(engine.createExecutionContext());
    if (!context) {
      throw Error(path, "TensorRT could not create an execution context (out of GPU memory?)",
                  "enough free GPU memory for the engine");
    }
    cuda_check(cudaStreamCreate(&stream), "cudaStreamCreate");
    for (const auto& [name, dims] : max_shapes) {
      auto buffer = std::make_unique<DeviceBuffer>();
      buffer->capacity_bytes = static_cast<size_t>(volume(dims)) * sizeof(float);
      cuda_check(cudaMalloc(&buffer->device, buffer->capacity_bytes), "cudaMalloc for " + name);
      cuda_check(cudaMallocHost(&buffer->host, buffer->capacity_bytes), "cudaMallocHost for " + name);
      if (!context->setTensorAddress(name.c_str(), buffer->device)) {
        throw Error(path, "TensorRT refused the device buffer of " + name, "a tensor name of the engine");
      }
      buffers[name] = std::move(buffer);
    }
  }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  ~Slot() {
    context.reset();
    if (stream) cudaStreamDestroy(stream);
  }
};

class TensorRTRunner final : public Runner {
 public:
  TensorRTRunner(const std::string& path, const Manifest& manifest, const EngineRecord& record,
                 const std::string& artifact, const std::string& variant, const LoadOptions& options)
      : Runner(manifest.inputs, manifest.outputs, manifest.min_batch, manifest.max_batch),
        path_(path),
        device_(options.gpu_device),
        max_concurrency_(options.max_concurrency) {
    if (max_concurrency_ < 1) {
      throw Error("max_concurrency", std::to_string(max_concurrency_), "at least 1 (execution contexts)");
    }
    const std::string hint = tensorrt_rebuild_hint(artifact, variant);
    cuda_check(cudaSetDevice(device_), "cudaSetDevice");
    cudaDeviceProp prop{};
    cuda_check(cudaGetDeviceProperties(&prop, device_), "cudaGetDeviceProperties");
    const std::string cc = std::to_string(prop.major) + "." + std::to_string(prop.minor);
    const std::string problem = tensorrt_compatibility_problem(record, tensorrt_version(), cc);
    if (!problem.empty()) throw Error(path, problem, hint);
    load_engine(record, options, hint);
    read_tensors(manifest, hint);
    // The first slot now: its errors surface at load.
    slots_.push_back(std::make_unique<Slot>(*engine_, max_shapes_, path_));
    idle_.push_back(slots_.back().get());
  }

  ~TensorRTRunner() override {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      closing_ = true;
      freed_.wait(lock, [this] { return idle_.size() == slots_.size(); });  // runs in flight finish first
    }
    slots_.clear();
    engine_.reset();
    runtime_.reset();
  }

  std::string backend() const override { return "tensorrt"; }

 protected:
  Outputs run_checked(const Tensor& input) override {
    cuda_check(cudaSetDevice(device_), "cudaSetDevice");  // the current device is per thread
    Lease lease(*this);
    return run_on(*lease.slot, input);
  }

 private:
  struct Lease {
    explicit Lease(TensorRTRunner& owner) : owner(owner), slot(owner.acquire()) {}
    ~Lease() { owner.release(slot); }
    TensorRTRunner& owner;
    Slot* slot;
  };

  void load_engine(const EngineRecord& record, const LoadOptions& options, const std::string& hint) {
    std::ifstream in(path_, std::ios::binary);
    const std::vector<char> blob((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    runtime_.reset(nvinfer1::createInferRuntime(logger_));
    if (!runtime_) throw Error(path_, "TensorRT could not create a runtime: " + logger_.last_error(), hint);
    // A version-compatible plan embeds its lean runtime as host code: allowed only on the caller's
    // explicit opt-in (Model::load refused it before, without LoadOptions::allow_engine_host_code).
    runtime_->setEngineHostCodeAllowed(record.version_compatible && options.allow_engine_host_code);
    engine_.reset(runtime_->deserializeCudaEngine(blob.data(), blob.size()));
    if (!engine_) {
      throw Error(path_, "TensorRT could not deserialize the engine (built by another TensorRT version or for "
                         "another GPU?): " + logger_.last_error(), hint);
    }
  }

  // Input/output names, the batch range of the engine's profile, every tensor's max shape.
  void read_tensors(const Manifest& manifest, const std::string& hint) {
    int max_batch = manifest.max_batch, min_batch = manifest.min_batch;
    for (int32_t i = 0; i < engine_->getNbIOTensors(); ++i) {
      const char* name = engine_->getIOTensorName(i);
      if (engine_->getTensorDataType(name) != nvinfer1::DataType::kFLOAT) {
        throw Error(path_, std::string("engine tensor ") + name + " is not float32",
                    "float32 inputs and outputs as in the manifest (" + hint + ")");
      }
      if (engine_->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT) {
        const nvinfer1::Dims lo = engine_->getProfileShape(name, 0, nvinfer1::OptProfileSelector::kMIN);
        const nvinfer1::Dims hi = engine_->getProfileShape(name, 0, nvinfer1::OptProfileSelector::kMAX);
        min_batch = std::max(min_batch, static_cast<int>(lo.d[0]));
        max_batch = std::min(max_batch, static_cast<int>(hi.d[0]));
        max_shapes_[name] = hi;
        input_names_.push_back(name);
      } else {
        output_names_.push_back(name);
      }
    }
    if (input_names_.size() != 1 || input_names_[0] != inputs().at(0).name) {
      throw Error(path_, "engine inputs do not match the manifest", "input " + inputs().at(0).name + " (" + hint + ")");
    }
    set_batch_range(min_batch, max_batch);
    std::unique_ptr<nvinfer1::IExecutionContext> context(engine_->createExecutionContext());
    if (!context) {
      throw Error(path_, "TensorRT could not create an execution context (out of GPU memory?)",
                  "enough free GPU memory for the engine");
    }
    if (!context->setInputShape(input_names_[0].c_str(), max_shapes_[input_names_[0]])) {
      throw Error(path_, "engine rejects its own max input shape", hint);
    }
    for (const auto& name : output_names_) {
      max_shapes_[name] = context->getTensorShape(name.c_str());
      for (int32_t d = 0; d < max_shapes_[name].nbDims; ++d) {
        if (max_shapes_[name].d[d] < 0) {
          throw Error(path_, "output " + name + " has an unresolved shape", "outputs whose shape follows from the input shape");
        }
      }
    }
  }

  Slot* acquire() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      if (closing_) throw Error(path_, "runner is closed", "an open model (load the artifact again)");
      if (!idle_.empty()) {
        Slot* slot = idle_.back();
        idle_.pop_back();
        return slot;
      }
      if (static_cast<int>(slots_.size()) < max_concurrency_) {
        try {
          slots_.push_back(std::make_unique<Slot>(*engine_, max_shapes_, path_));
          return slots_.back().get();
        } catch (const Error&) {
          max_concurrency_ = static_cast<int>(slots_.size());  // what fits in GPU memory: wait for one
          continue;
        }
      }
      freed_.wait(lock);
    }
  }

  void release(Slot* slot) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      idle_.push_back(slot);
    }
    freed_.notify_all();
  }

  Outputs run_on(Slot& slot, const Tensor& input) {
    const std::string& in_name = input_names_[0];
    DeviceBuffer& in = *slot.buffers.at(in_name);
    nvinfer1::Dims dims{};
    dims.nbDims = static_cast<int32_t>(input.shape.size());
    for (int32_t i = 0; i < dims.nbDims; ++i) dims.d[i] = input.shape[i];
    if (!slot.context->setInputShape(in_name.c_str(), dims)) {
      throw Error("input " + in_name, "shape rejected by the engine", "a shape within the engine's profile");
    }
    const size_t in_bytes = input.data.size() * sizeof(float);
    std::memcpy(in.host, input.data.data(), in_bytes);
    cuda_check(cudaMemcpyAsync(in.device, in.host, in_bytes, cudaMemcpyHostToDevice, slot.stream), "copy to the GPU");
    if (!slot.context->enqueueV3(slot.stream)) {
      throw Error(path_, "TensorRT execution failed: " + logger_.last_error(), "inputs within the engine's profile");
    }
    std::map<std::string, nvinfer1::Dims> shapes;
    for (const TensorSpec& spec : outputs()) {
      const nvinfer1::Dims shape = slot.context->getTensorShape(spec.name.c_str());
      shapes[spec.name] = shape;
      DeviceBuffer& out = *slot.buffers.at(spec.name);
      cuda_check(cudaMemcpyAsync(out.host, out.device, static_cast<size_t>(volume(shape)) * sizeof(float),
                                 cudaMemcpyDeviceToHost, slot.stream), "copy from the GPU");
    }
    cuda_check(cudaStreamSynchronize(slot.stream), "cudaStreamSynchronize");
    Outputs result;  // copied out of the pinned buffers before the slot goes back to the pool
    for (const TensorSpec& spec : outputs()) {
      const nvinfer1::Dims& shape = shapes[spec.name];
      Tensor& out = result[spec.name];
      out.shape.assign(shape.d, shape.d + shape.nbDims);
      const float* host = static_cast<const float*>(slot.buffers.at(spec.name)->host);
      out.data.assign(host, host + volume(shape));
    }
    return result;
  }

  std::string path_;
  int device_;
  Logger logger_;
  std::unique_ptr<nvinfer1::IRuntime> runtime_;
  std::unique_ptr<nvinfer1::ICudaEngine> engine_;
  std::vector<std::string> input_names_, output_names_;
  std::map<std::string, nvinfer1::Dims> max_shapes_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> idle_;
  int max_concurrency_;
  bool closing_ = false;
};

}  // namespace

std::unique_ptr<Runner> make_tensorrt_runner(const std::string& engine_path, const Manifest& manifest,
                                             const EngineRecord& record, const std::string& artifact,
                                             const std::string& variant, const LoadOptions& options) {
  return std::make_unique<TensorRTRunner>(engine_path, manifest, record, artifact, variant, options);
}

}  // namespace ijepa::detail
