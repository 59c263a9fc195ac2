// Internal: the backend factories Model::load calls (each compiled only when its SDK is found).
#pragma once

#include <memory>
#include <string>

#include "ijepa/manifest.hpp"
#include "ijepa/model.hpp"
#include "ijepa/runner.hpp"

namespace ijepa::detail {

std::unique_ptr<Runner> make_openvino_runner(const std::string& graph_path, const Manifest& manifest,
                                             const LoadOptions& options);

std::unique_ptr<Runner> make_tensorrt_runner(const std::string& engine_path, const Manifest& manifest,
                                             const EngineRecord& record, const std::string& artifact,
                                             const std::string& variant, const LoadOptions& options);

// The Python runtime's tensorrt_runner.compatibility_problem(): why an engine cannot run on this
// TensorRT version / GPU, or "" when it can.
std::string tensorrt_compatibility_problem(const EngineRecord& record, const std::string& tensorrt_version,
                                           const std::string& compute_capability);
std::string tensorrt_rebuild_hint(const std::string& artifact, const std::string& variant);

// Whether int8 GEMM kernels accumulate exactly and fast on this CPU (x86: VNNI or AMX); the
// Python runtime's cpu_features.int8_dot_product().
bool int8_dot_product();

}  // namespace ijepa::detail
