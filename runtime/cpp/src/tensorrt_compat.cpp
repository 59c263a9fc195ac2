// The engine compatibility rule and rebuild hint of runtime/tensorrt_runner.py, word for word, so
// Python and C++ refuse a foreign engine with the same message. Compiled in every build.
#include <regex>
#include <vector>

#include "backends.hpp"

namespace ijepa::detail {

namespace {
std::vector<int> version_tuple(const std::string& text) {
  std::vector<int> parts;
  static const std::regex number("\\d+");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), number); it != std::sregex_iterator() && parts.size() < 4;
       ++it) {
    parts.push_back(std::stoi(it->str()));
  }
  return parts;
}
}  // namespace

std::string tensorrt_rebuild_hint(const std::string& artifact, const std::string& variant) {
  return "an engine built on this host: ijepa-build " + artifact + " --variant " + variant +
         " (add --version-compatible / --hardware-compatibility ampere_plus to share engines across "
         "TensorRT versions / GPU generations)";
}

std::string tensorrt_compatibility_problem(const EngineRecord& record, const std::string& tensorrt_version,
                                           const std::string& compute_capability) {
  const std::string& built_version = record.tensorrt_version;
  const std::string& built_cc = record.compute_capability;
  if (!built_version.empty() && built_version != tensorrt_version) {
    const bool newer_ok = record.version_compatible && version_tuple(tensorrt_version) > version_tuple(built_version);
    if (!newer_ok) {
      return "engine was built with TensorRT " + built_version + ", this host has TensorRT " + tensorrt_version +
             (record.version_compatible ? "" : " (engines are tied to the TensorRT version they were built with)");
    }
  }
  if (!built_cc.empty() && built_cc != compute_capability) {
    const bool ampere_plus = record.hardware_compatibility == "ampere_plus" &&
                             version_tuple(compute_capability) >= std::vector<int>{8, 0};
    if (!ampere_plus) {
      const std::string gpu = record.gpu_name.empty() ? "another GPU" : record.gpu_name;
      return "engine was built for " + gpu + " (compute capability " + built_cc + "), this GPU has compute capability " +
             compute_capability;
    }
  }
  return {};
}

}  // namespace ijepa::detail
