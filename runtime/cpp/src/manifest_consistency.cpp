// What the schema cannot say: relations between manifest fields (ijepa_deploy/manifest_schema.py
// check_consistency and its helpers, rule for rule). `data` passed the schema check.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ijepa/error.hpp"
#include "python_text.hpp"

using ojson = nlohmann::ordered_json;

namespace ijepa::detail {

namespace {

Error fail(const std::string& where, const std::string& path, const std::string& problem, const std::string& expected) {
  return Error(where, "manifest field " + path + ": " + problem, expected);
}

std::string quote(const std::string& text) { return "'" + text + "'"; }

std::string list_text(std::vector<std::string> names) {  // Python's repr of a list of str
  std::string out = "[";
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + quote(names[i]);
  return out + "]";
}

std::vector<std::string> sorted(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> keys(const ojson& object) {
  std::vector<std::string> out;
  for (auto it = object.begin(); it != object.end(); ++it) out.push_back(it.key());
  return out;
}

std::vector<std::string> task_outputs(const std::string& task) {
  if (task == "feature-extraction") return {"last_hidden_state", "embedding"};
  return {"logits"};
}

struct NamedFile {
  std::string field, name, role;
};

// (JSON path, file name, role) of every file a graph names: its ONNX files and its OpenVINO IR.
std::vector<NamedFile> graph_files(const std::string& variant, const ojson& graph) {
  const std::string at = "$.graphs[" + quote(variant) + "].";
  std::vector<NamedFile> named{{at + "file", graph["file"].get<std::string>(), "onnx-graph"}};
  for (size_t i = 0; i < graph["data_files"].size(); ++i) {
    named.push_back({at + "data_files[" + std::to_string(i) + "]", graph["data_files"][i].get<std::string>(),
                     "onnx-external-data"});
  }
  if (graph.contains("openvino_ir")) {
    named.push_back({at + "openvino_ir.file", graph["openvino_ir"]["file"].get<std::string>(), "openvino-ir"});
    named.push_back({at + "openvino_ir.weights", graph["openvino_ir"]["weights"].get<std::string>(),
                     "openvino-ir-weights"});
  }
  return named;
}

void check_files_listed(const ojson& data, const std::string& where) {
  const ojson& files = data["files"];
  for (auto it = data["graphs"].begin(); it != data["graphs"].end(); ++it) {
    for (const auto& [field, name, role] : graph_files(it.key(), it.value())) {
      if (!files.contains(name)) {
        throw fail(where, field, quote(name) + " is not listed under files", "every artifact file with its sha256");
      }
      if (files[name]["role"] != role) {
        throw fail(where, "$.files[" + quote(name) + "].role", quote(files[name]["role"].get<std::string>()),
                   "\"" + role + "\"");
      }
    }
  }
  for (auto it = data["engines"].begin(); it != data["engines"].end(); ++it) {
    const std::string file = it.value()["file"].get<std::string>();
    if (!files.contains(file)) {
      throw fail(where, "$.engines[" + quote(it.key()) + "].file", quote(file) + " is not listed under files",
                 "every artifact file with its sha256");
    }
  }
}

void check_engines(const ojson& data, const std::string& where) {
  const int64_t low = data["batch"]["min"].get<int64_t>(), high = data["batch"]["max"].get<int64_t>();
  for (auto it = data["engines"].begin(); it != data["engines"].end(); ++it) {
    const ojson& p = it.value()["profile"];
    const int64_t lo = p["min"].get<int64_t>(), opt = p["opt"].get<int64_t>(), hi = p["max"].get<int64_t>();
    if (!(low <= lo && lo <= opt && opt <= hi && hi <= high)) {
      throw fail(where, "$.engines[" + quote(it.key()) + "].profile",
                 "min " + std::to_string(lo) + ", opt " + std::to_string(opt) + ", max " + std::to_string(hi),
                 std::to_string(low) + " <= min <= opt <= max <= " + std::to_string(high) + " (the artifact's batch range)");
    }
  }
}

void check_engine_parity(const ojson& data, size_t i, const std::string& engine, bool passed, const std::string& where) {
  std::string variant;
  for (auto it = data["engines"].begin(); it != data["engines"].end() && variant.empty(); ++it) {
    if (it.value()["file"] == engine) variant = it.key();
  }
  if (variant.empty()) {
    throw fail(where, "$.parity[" + std::to_string(i) + "].engine", quote(engine) + " is not an engine of this artifact",
               "the file of an entry under engines");
  }
  if (data["engines"][variant].value("status", "") == "passed" && !passed) {
    throw fail(where, "$.engines[" + quote(variant) + "].status",
               "'passed' but its parity result " + std::to_string(i) + " failed",
               "status 'failed' when the engine's parity check failed");
  }
}

void check_graph_statuses(const ojson& data, const std::string& where) {
  const std::string status = data["status"].get<std::string>();
  for (auto it = data["graphs"].begin(); it != data["graphs"].end(); ++it) {
    const std::string graph_status = it.value().value("status", "passed");
    if (status == "passed" && graph_status != "passed") {
      throw fail(where, "$.graphs[" + quote(it.key()) + "].status",
                 quote(graph_status) + " in an artifact with status 'passed'",
                 "'passed' (or artifact status 'partial' / 'failed')");
    }
  }
  const bool fp32_passed = data["graphs"].contains("fp32") && data["graphs"]["fp32"].value("status", "") == "passed";
  if (status == "partial" && !fp32_passed) {
    throw fail(where, "$.status", "'partial' but the fp32 graph did not pass",
               "'partial' only when graphs.fp32.status is 'passed' (else 'failed')");
  }
}

void check_parity(const ojson& data, const std::vector<std::string>& outputs, const std::string& where) {
  const ojson& parity = data["parity"];
  for (size_t i = 0; i < parity.size(); ++i) {
    const ojson& result = parity[i];
    const std::string at = "$.parity[" + std::to_string(i) + "]";
    if (sorted(keys(result["outputs"])) != sorted(outputs)) {
      throw fail(where, at + ".outputs", "results for " + list_text(sorted(keys(result["outputs"]))),
                 "one per output: " + list_text(outputs));
    }
    std::vector<int64_t> per_batch, batch_sizes;
    for (const auto& key : keys(result["per_batch"])) per_batch.push_back(std::stoll(key));  // schema: digits only
    for (const auto& b : result["batch_sizes"]) batch_sizes.push_back(b.get<int64_t>());
    std::sort(per_batch.begin(), per_batch.end());
    std::sort(batch_sizes.begin(), batch_sizes.end());
    if (per_batch != batch_sizes) {
      throw fail(where, at + ".per_batch", "batches " + list_text(keys(result["per_batch"])),
                 "one entry per batch size " + show(result["batch_sizes"]));
    }
    for (auto it = result["per_batch"].begin(); it != result["per_batch"].end(); ++it) {
      if (sorted(keys(it.value())) != sorted(outputs)) {
        throw fail(where, at + ".per_batch[" + quote(it.key()) + "]", "results for " + list_text(sorted(keys(it.value()))),
                   "one per output: " + list_text(outputs));
      }
    }
    const bool passed = result["passed"].get<bool>();
    const std::string graph = result["graph"].get<std::string>();
    if (!result.contains("engine") && data["status"] == "passed" && !passed) {
      throw fail(where, "$.status", "'passed' but parity result " + std::to_string(i) + " (" + graph + ") failed",
                 "status 'partial' or 'failed' when any graph's parity check failed");
    }
    if (result.contains("engine")) check_engine_parity(data, i, result["engine"].get<std::string>(), passed, where);
    if (!result.contains("engine") && data["graphs"].contains(graph)) {
      const ojson& record = data["graphs"][graph];
      if (record.value("status", "") == "passed" && result["precision"] == record["precision"] && !passed) {
        throw fail(where, "$.graphs[" + quote(graph) + "].status",
                   "'passed' but its parity result " + std::to_string(i) + " (" + result["backend"].get<std::string>() +
                       ") failed",
                   "status 'failed' when any of the graph's checks failed");
      }
    }
  }
  check_graph_statuses(data, where);
}

}  // namespace

void check_consistency(const ojson& data, const std::string& where) {
  const std::string task = data["task"].get<std::string>();
  const ojson& io = data["io"];
  if (io["task"] != task) {
    throw fail(where, "$.io.task", quote(io["task"].get<std::string>()) + " differs from the manifest task " + quote(task),
               "the same task");
  }
  std::vector<std::string> names;
  for (const auto& t : io["outputs"]) names.push_back(t["name"].get<std::string>());
  if (sorted(names) != sorted(task_outputs(task))) {
    throw fail(where, "$.io.outputs", "outputs " + list_text(names) + " do not match task " + quote(task),
               "exactly " + list_text(task_outputs(task)));
  }
  const ojson& pre = data["preprocessing"];
  const ojson want_input = ojson::array({"batch", 3, pre["height"], pre["width"]});
  if (io["inputs"].size() != 1 || io["inputs"][0]["name"] != "pixel_values" || io["inputs"][0]["shape"] != want_input) {
    throw fail(where, "$.io.inputs", show(io["inputs"]) + " does not match the preprocessing size",
               "one input pixel_values of shape " + python_repr(want_input));
  }
  if (data["batch"]["max"].get<int64_t>() < data["batch"]["min"].get<int64_t>()) {
    throw fail(where, "$.batch.max", data["batch"]["max"].dump() + " is below batch.min " + data["batch"]["min"].dump(),
               "max >= min");
  }
  const ojson& labels = data["id2label"];
  if (labels.is_null() != (task == "feature-extraction")) {
    throw fail(where, "$.id2label", show(labels) + " does not fit task " + quote(task),
               "null for feature-extraction, a label per class for image-classification");
  }
  if (!labels.is_null()) {
    const ojson& logits_shape = io["outputs"][0]["shape"];
    if (ojson(labels.size()) != logits_shape.back()) {
      throw fail(where, "$.id2label", std::to_string(labels.size()) + " labels for " + logits_shape.back().dump() + " logits",
                 "one label per logit");
    }
  }
  check_files_listed(data, where);
  check_engines(data, where);
  check_parity(data, names, where);
}

}  // namespace ijepa::detail
