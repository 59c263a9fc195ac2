#include "ijepa/runner.hpp"

#include <numeric>
#include <sstream>
#include <utility>

#include "ijepa/error.hpp"

namespace ijepa {

namespace {
std::string shape_text(const std::vector<int64_t>& shape, const char* dynamic = "batch") {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out << ", ";
    if (shape[i] < 0) out << "'" << dynamic << "'";
    else out << shape[i];
  }
  out << "]";
  return out.str();
}
}  // namespace

int64_t Tensor::count() const {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, [](int64_t a, int64_t b) { return a * b; });
}

Runner::Runner(std::vector<TensorSpec> inputs, std::vector<TensorSpec> outputs, int min_batch, int max_batch)
    : inputs_(std::move(inputs)), outputs_(std::move(outputs)), min_batch_(min_batch), max_batch_(max_batch) {}

void Runner::set_batch_range(int min_batch, int max_batch) {
  min_batch_ = min_batch;
  max_batch_ = max_batch;
}

void Runner::check(const Tensor& input) const {
  const TensorSpec& spec = inputs_.at(0);
  const std::string subject = "input " + spec.name;
  if (spec.dtype != "float32") {
    throw Error(subject, "artifact input dtype is " + spec.dtype, "float32 (the C++ runtime feeds float32 pixels)");
  }
  if (input.shape.size() != spec.shape.size()) {
    throw Error(subject, "shape is " + shape_text(input.shape),
                "rank " + std::to_string(spec.shape.size()) + ": " + shape_text(spec.shape));
  }
  for (size_t axis = 0; axis < spec.shape.size(); ++axis) {
    if (spec.shape[axis] >= 0 && input.shape[axis] != spec.shape[axis]) {
      throw Error(subject, "shape is " + shape_text(input.shape) + " (axis " + std::to_string(axis) + " is " +
                               std::to_string(input.shape[axis]) + ")",
                  shape_text(spec.shape));
    }
  }
  if (static_cast<int64_t>(input.data.size()) != input.count()) {
    throw Error(subject, "holds " + std::to_string(input.data.size()) + " values for shape " + shape_text(input.shape),
                "data.size() equal to the product of the shape");
  }
  const int64_t n = input.shape[0];
  if (n < min_batch_ || n > max_batch_) {
    throw Error(subject, "batch size " + std::to_string(n) + " is outside the artifact's range",
                std::to_string(min_batch_) + " <= batch <= " + std::to_string(max_batch_) +
                    " (split the batch, or re-export/rebuild with a larger --max-batch)");
  }
}

Outputs Runner::run(const Tensor& input) {
  check(input);
  return run_checked(input);
}

}  // namespace ijepa
