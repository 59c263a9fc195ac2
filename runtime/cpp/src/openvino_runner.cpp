// OpenVINO on CPU: read the artifact's ONNX graph (external data next to it), bound the batch
// axis to the manifest's range, compile once. Each concurrent run() takes an infer request
// from a pool (created on first need, returned after use), so Model::embed is thread-safe and a
// service's steady state allocates no requests.
#include <mutex>
#include <openvino/openvino.hpp>
#include <utility>
#include <vector>

#include "backends.hpp"
#include "ijepa/error.hpp"

namespace ijepa::detail {

namespace {

class OpenVINORunner final : public Runner {
 public:
  OpenVINORunner(const std::string& path, const Manifest& manifest, const LoadOptions& options)
      : Runner(manifest.inputs, manifest.outputs, manifest.min_batch, manifest.max_batch), path_(path) {
    try {
      std::shared_ptr<ov::Model> model = core_.read_model(path);
      const TensorSpec& input = inputs().at(0);
      ov::PartialShape shape{ov::Dimension(manifest.min_batch, manifest.max_batch), input.shape[1], input.shape[2],
                             input.shape[3]};
      model->reshape({{input.name, shape}});
      ov::AnyMap config{ov::hint::inference_precision(ov::element::f32)};
      // Without the f32 hint OpenVINO may pick bf16 on CPUs that have it: set it explicitly.
      if (options.num_threads > 0) config.emplace(ov::inference_num_threads(options.num_threads));
      compiled_ = core_.compile_model(model, options.device, config);
      for (const TensorSpec& out : outputs()) compiled_.output(out.name);  // throws if the graph lacks it
    } catch (const ov::Exception& exc) {
      throw Error(path, std::string("OpenVINO could not load the graph: ") + first_line(exc.what()),
                  "an ONNX graph written by ijepa-export");
    }
  }

  std::string backend() const override { return "openvino"; }

 protected:
  Outputs run_checked(const Tensor& input) override {
    Lease lease(*this);
    try {
      ov::InferRequest& request = lease.request;
      ov::Tensor pixels(ov::element::f32, ov::Shape(input.shape.begin(), input.shape.end()),
                        const_cast<float*>(input.data.data()));
      request.set_tensor(inputs().at(0).name, pixels);
      request.infer();
      Outputs result;
      for (const TensorSpec& spec : outputs()) {
        ov::Tensor value = request.get_tensor(spec.name);
        Tensor& out = result[spec.name];
        const ov::Shape& shape = value.get_shape();
        out.shape.assign(shape.begin(), shape.end());
        const float* data = value.data<const float>();
        out.data.assign(data, data + value.get_size());
      }
      return result;
    } catch (const ov::Exception& exc) {
      throw Error(path_, std::string("OpenVINO inference failed: ") + first_line(exc.what()),
                  "inputs within the artifact's batch range");
    }
  }

 private:
  // RAII: borrow an infer request from the pool, give it back when the call ends (also on error).
  struct Lease {
    explicit Lease(OpenVINORunner& owner) : owner(owner), request(owner.acquire()) {}
    ~Lease() { owner.release(std::move(request)); }
    OpenVINORunner& owner;
    ov::InferRequest request;
  };

  ov::InferRequest acquire() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!idle_.empty()) {
        ov::InferRequest request = std::move(idle_.back());
        idle_.pop_back();
        return request;
      }
    }
    return compiled_.create_infer_request();
  }

  void release(ov::InferRequest request) {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(std::move(request));
  }

  static std::string first_line(const std::string& text) {
    // OpenVINO messages carry source locations and stack-like context; keep the informative part short.
    const size_t limit = 600;
    return text.size() > limit ? text.substr(0, limit) + "..." : text;
  }

  std::string path_;
  ov::Core core_;
  ov::CompiledModel compiled_;
  std::mutex mutex_;
  std::vector<ov::InferRequest> idle_;
};

}  // namespace

std::unique_ptr<Runner> make_openvino_runner(const std::string& graph_path, const Manifest& manifest,
                                             const LoadOptions& options) {
  return std::make_unique<OpenVINORunner>(graph_path, manifest, options);
}

}  // namespace ijepa::detail
