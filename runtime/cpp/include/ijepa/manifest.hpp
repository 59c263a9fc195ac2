// ijepa_manifest.json: the contract between the exporter, the Python runtime and this library.
// Only the fields the runtime needs are read; the keys are those ijepa_deploy/manifest.py writes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ijepa {

inline constexpr const char* kManifestName = "ijepa_manifest.json";
inline constexpr int kSchemaVersion = 1;

struct TensorSpec {
  std::string name;
  std::string dtype;            // "float32"
  std::vector<int64_t> shape;   // -1 for a named (dynamic) axis such as "batch"
};

struct PreprocessConfig {
  int height = 224;
  int width = 224;
  std::string resample = "bilinear";
  bool do_resize = true;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  float image_mean[3] = {0.5f, 0.5f, 0.5f};
  float image_std[3] = {0.5f, 0.5f, 0.5f};
  bool convert_rgb = true;
  std::string channel_order = "RGB";
  std::string layout = "NCHW";
};

struct GraphRecord {
  std::string file;
  std::vector<std::string> data_files;
  std::string precision;             // "fp32", "fp16" or "int8" (int8-cpu is an int8 graph too)
  std::vector<std::string> targets;  // the manifest's "for": the engines the graph is meant for
  std::string status;                // its own parity verdict; "" in manifests from before per-graph verdicts
  // The graph as OpenVINO IR (.xml, then its .bin), written at export for the graphs OpenVINO serves;
  // empty when the export wrote none. OpenVINO maps the .bin instead of copying ONNX weights to the heap.
  std::vector<std::string> openvino_ir;

  // What OpenVINO opens: the IR when present, else the ONNX file and its external data.
  std::vector<std::string> openvino_files() const;
};

struct EngineRecord {
  std::string file;
  std::string tensorrt_version;
  std::string compute_capability;
  std::string gpu_name;
  std::string hardware_compatibility;
  std::string source_graph;
  std::string precision;
  std::string status;  // "passed" after ijepa-build checked it; "" = never checked
  bool version_compatible = false;
};

struct FileRecord {
  std::string sha256;
  uint64_t bytes = 0;
};

struct Manifest {
  int schema_version = 0;
  std::string status;
  std::string task;   // "feature-extraction" or "image-classification"
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  int min_batch = 1;
  int max_batch = 64;
  PreprocessConfig preprocessing;
  std::map<int, std::string> id2label;
  std::map<std::string, GraphRecord> graphs;
  std::map<std::string, EngineRecord> engines;
  std::map<std::string, FileRecord> files;
};

// Reads <directory>/ijepa_manifest.json; throws ijepa::Error on a missing directory or file,
// invalid JSON, any field the shipped JSON Schema or the consistency rules refuse
// ("<manifest> | manifest field $.x: problem. Note: expected ..."), or a file name that does not
// resolve inside the directory (symlinks followed; checked before any file is opened).
Manifest read_manifest(const std::string& directory);

// <directory>/<name> resolved (symlinks followed) when it lies inside directory; else ijepa::Error.
std::string resolve_inside(const std::string& directory, const std::string& name);

// Checks that each relative path resolves inside the directory, exists, is listed in the manifest and matches its size and SHA-256.
void verify_files(const std::string& directory, const Manifest& manifest,
                  const std::vector<std::string>& relpaths);

// Lower-case hex SHA-256 of a file (OpenSSL libcrypto), streamed in 4 MiB blocks.
std::string sha256_file(const std::string& path);

}  // namespace ijepa
