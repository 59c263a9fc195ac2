// Internal: the parity and safety gates Model::load applies before opening anything, rule for rule
// and message for message those of the Python runtime (runtime/model.py
// check_verified / openvino_variant / openvino_int8_problem, tensorrt_runner.host_code_problem),
// with the C++ way to opt in.
#pragma once

#include <optional>
#include <string>

#include "ijepa/error.hpp"
#include "ijepa/manifest.hpp"

namespace ijepa::detail {

inline constexpr const char* kAllowUnverified = "LoadOptions::allow_unverified = true";
inline constexpr const char* kAllowHostCode =
    "LoadOptions::allow_engine_host_code = true or ijepa_embed --allow-engine-host-code";

// The graph OpenVINO runs for `precision`: the record with that precision whose "for" lists
// "openvino", else the graph named by the precision.
std::string openvino_variant(const Manifest& manifest, const std::string& precision);

// Why the artifact, one graph, one engine may not be served; nullopt when they may.
std::optional<Error> artifact_problem(const std::string& directory, const Manifest& manifest);
std::optional<Error> graph_problem(const std::string& directory, const Manifest& manifest, const std::string& variant);
std::optional<Error> engine_problem(const std::string& directory, const EngineRecord& record,
                                    const std::string& precision);
std::optional<Error> host_code_problem(const EngineRecord& record, const std::string& engine_path,
                                       const std::string& artifact, const std::string& variant);
// OpenVINO INT8 on a CPU without int8 dot products (VNNI / AMX).
std::optional<Error> openvino_int8_problem(const Manifest& manifest, const std::string& variant,
                                           const std::string& precision);

}  // namespace ijepa::detail
