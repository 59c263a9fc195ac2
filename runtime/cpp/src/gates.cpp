#include "gates.hpp"

#include <vector>

#include "backends.hpp"

namespace ijepa::detail {

namespace {

std::string graph_status(const Manifest& manifest, const std::string& variant) {
  const std::string& status = manifest.graphs.at(variant).status;
  if (!status.empty()) return status;  // artifacts from before per-graph verdicts: the artifact's
  return manifest.status == "passed" ? "passed" : "failed";
}

std::string usable_graphs(const Manifest& manifest) {
  std::string out;
  if (manifest.status != "passed" && manifest.status != "partial") return "none";
  for (const auto& [variant, graph] : manifest.graphs) {
    if (graph_status(manifest, variant) == "passed") out += (out.empty() ? "" : ", ") + variant;
  }
  return out.empty() ? "none" : out;
}

std::string what_failed(const std::string& status) {
  if (status == "failed") return "FAILED its parity check against eager PyTorch";
  return "was never checked against eager PyTorch (status " + (status.empty() ? std::string("None") : "'" + status + "'") + ")";
}

}  // namespace

std::string openvino_variant(const Manifest& manifest, const std::string& precision) {
  for (const auto& [variant, graph] : manifest.graphs) {
    if (graph.precision != precision) continue;
    for (const auto& target : graph.targets) {
      if (target == "openvino") return variant;
    }
  }
  return precision;
}

std::optional<Error> artifact_problem(const std::string& directory, const Manifest& manifest) {
  if (manifest.status == "passed" || manifest.status == "partial") return std::nullopt;
  return Error(directory, "artifact status is '" + manifest.status + "': its parity check did not pass",
               std::string("an artifact with status 'passed' (see the manifest's parity section; ") + kAllowUnverified +
                   " to inspect it anyway)");
}

std::optional<Error> graph_problem(const std::string& directory, const Manifest& manifest, const std::string& variant) {
  if (!manifest.graphs.count(variant) || graph_status(manifest, variant) == "passed") return std::nullopt;
  return Error(directory,
               "graph " + manifest.graphs.at(variant).file + " (" + variant + ") " + what_failed(graph_status(manifest, variant)),
               "a graph that passed (usable in this artifact: " + usable_graphs(manifest) +
                   "; see the manifest's parity section; " + kAllowUnverified + " to inspect it anyway)");
}

std::optional<Error> engine_problem(const std::string& directory, const EngineRecord& record,
                                    const std::string& precision) {
  if (record.status == "passed") return std::nullopt;
  return Error(directory, "TensorRT engine " + record.file + " " + what_failed(record.status),
               "an engine with status 'passed' (see the manifest's parity section; rebuild and check it with: "
               "ijepa-build " + directory + " --variant " + precision + "; " + kAllowUnverified + " to inspect it anyway)");
}

std::optional<Error> host_code_problem(const EngineRecord& record, const std::string& engine_path,
                                       const std::string& artifact, const std::string& variant) {
  if (!record.version_compatible) return std::nullopt;
  return Error(engine_path,
               "engine is version-compatible: it embeds host code (TensorRT's lean runtime) that runs in the process "
               "that loads it",
               std::string("an explicit opt-in if you trust whoever built it: ") + kAllowHostCode +
                   "; or rebuild it without --version-compatible on the serving host (ijepa-build " + artifact +
                   " --variant " + variant + ")");
}

std::optional<Error> openvino_int8_problem(const Manifest& manifest, const std::string& variant,
                                           const std::string& precision) {
  auto graph = manifest.graphs.find(variant);
  if (graph == manifest.graphs.end() || graph->second.precision != "int8" || int8_dot_product()) return std::nullopt;
  return Error("precision " + precision + " on OpenVINO",
               "this CPU has no int8 dot products (VNNI / AMX): OpenVINO's int8 kernels saturate 16-bit sums here and "
               "run slower than its fp32",
               std::string("the Python runtime's onnxruntime backend for int8 on this CPU (its int8-cpu graph never "
                           "saturates), or precision fp32 (") + kAllowUnverified + " runs it anyway)");
}

}  // namespace ijepa::detail
