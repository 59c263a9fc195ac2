// The Runner interface: the base checks inputs (shape, batch inside the artifact's range), each
// backend implements only run_checked(). Mirrors runtime/runner.py (ijepa_deploy.runtime.runner).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ijepa/manifest.hpp"

namespace ijepa {

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;

  int64_t count() const;
};

using Outputs = std::map<std::string, Tensor>;

class Runner {
 public:
  Runner(std::vector<TensorSpec> inputs, std::vector<TensorSpec> outputs, int min_batch, int max_batch);
  virtual ~Runner() = default;
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  virtual std::string backend() const = 0;
  int min_batch() const noexcept { return min_batch_; }
  int max_batch() const noexcept { return max_batch_; }
  const std::vector<TensorSpec>& inputs() const noexcept { return inputs_; }
  const std::vector<TensorSpec>& outputs() const noexcept { return outputs_; }

  // Checks the single float32 input (the graphs have one: pixel_values), then runs it.
  // Thread-safe for backends that say so (OpenVINO: yes).
  Outputs run(const Tensor& input);

 protected:
  void check(const Tensor& input) const;
  virtual Outputs run_checked(const Tensor& input) = 0;
  void set_batch_range(int min_batch, int max_batch);

 private:
  std::vector<TensorSpec> inputs_;
  std::vector<TensorSpec> outputs_;
  int min_batch_;
  int max_batch_;
};

}  // namespace ijepa
