// Reads ijepa_manifest.json with nlohmann-json and verifies files with OpenSSL's SHA-256.
#include "ijepa/manifest.hpp"

#include <openssl/evp.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ijepa/error.hpp"
#include "manifest_schema.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ijepa {

namespace {

const char* kExpectedManifest = "a manifest written by ijepa-export";

std::string join(const std::string& directory, const std::string& rel) {
  return (fs::path(directory) / rel).string();
}

// An integer field the runtime holds as int (the schema already said it is an integer >= its minimum).
int to_int(const json& value, const std::string& where, const std::string& field) {
  const int64_t v = value.get<int64_t>();
  if (v > INT32_MAX || v < INT32_MIN) {
    throw Error(where, "manifest field " + field + ": " + value.dump() + " is out of range",
                "a value <= " + std::to_string(INT32_MAX));
  }
  return static_cast<int>(v);
}

std::vector<TensorSpec> read_tensors(const json& list) {
  std::vector<TensorSpec> specs;
  for (const auto& item : list) {
    TensorSpec spec;
    spec.name = item.at("name").get<std::string>();
    spec.dtype = item.at("dtype").get<std::string>();
    for (const auto& dim : item.at("shape")) spec.shape.push_back(dim.is_number() ? dim.get<int64_t>() : -1);
    specs.push_back(std::move(spec));
  }
  return specs;
}

PreprocessConfig read_preprocessing(const json& p, const std::string& where) {
  PreprocessConfig c;
  c.height = to_int(p.at("height"), where, "$.preprocessing.height");
  c.width = to_int(p.at("width"), where, "$.preprocessing.width");
  c.resample = p.at("resample").get<std::string>();
  c.do_resize = p.at("do_resize").get<bool>();
  c.do_rescale = p.at("do_rescale").get<bool>();
  c.rescale_factor = p.at("rescale_factor").get<double>();
  c.do_normalize = p.at("do_normalize").get<bool>();
  for (int i = 0; i < 3; ++i) {
    // The Python runtime holds mean/std as float32 arrays: round the same way.
    c.image_mean[i] = static_cast<float>(p.at("image_mean")[i].get<double>());
    c.image_std[i] = static_cast<float>(p.at("image_std")[i].get<double>());
  }
  c.convert_rgb = p.at("convert_rgb").get<bool>();
  c.channel_order = p.at("channel_order").get<std::string>();
  c.layout = p.at("layout").get<std::string>();
  if (c.resample != "bilinear") {
    throw Error(where, "manifest field $.preprocessing.resample: '" + c.resample + "' is not implemented in the C++ runtime",
                "bilinear (the filter of every I-JEPA checkpoint)");
  }
  return c;
}

GraphRecord read_graph(const json& g) {
  GraphRecord rec;
  rec.file = g.at("file").get<std::string>();
  rec.data_files = g.at("data_files").get<std::vector<std::string>>();
  rec.precision = g.at("precision").get<std::string>();
  rec.targets = g.at("for").get<std::vector<std::string>>();
  rec.status = g.value("status", std::string());
  if (g.contains("openvino_ir")) {
    rec.openvino_ir = {g["openvino_ir"].at("file").get<std::string>(), g["openvino_ir"].at("weights").get<std::string>()};
  }
  return rec;
}

EngineRecord read_engine(const json& e) {
  EngineRecord rec;
  rec.file = e.at("file").get<std::string>();
  rec.tensorrt_version = e.at("tensorrt_version").get<std::string>();
  rec.compute_capability = e.at("compute_capability").get<std::string>();
  rec.gpu_name = e.at("gpu_name").get<std::string>();
  const json& level = e.at("hardware_compatibility");
  rec.hardware_compatibility = level.is_string() ? level.get<std::string>() : std::string();
  rec.source_graph = e.at("source_graph").get<std::string>();
  rec.precision = e.at("precision").get<std::string>();
  rec.status = e.value("status", std::string());
  rec.version_compatible = e.at("version_compatible").get<bool>();
  return rec;
}

// `data` passed detail::check_manifest: every field below exists with its type and range.
Manifest parse(const json& data, const std::string& where) {
  Manifest m;
  m.schema_version = data.at("schema_version").get<int>();
  m.status = data.at("status").get<std::string>();
  m.task = data.at("task").get<std::string>();
  const auto& io = data.at("io");
  m.inputs = read_tensors(io.at("inputs"));
  m.outputs = read_tensors(io.at("outputs"));
  m.min_batch = to_int(data.at("batch").at("min"), where, "$.batch.min");
  m.max_batch = to_int(data.at("batch").at("max"), where, "$.batch.max");
  m.preprocessing = read_preprocessing(data.at("preprocessing"), where);
  if (data.at("id2label").is_object()) {
    for (const auto& [key, value] : data["id2label"].items()) {
      const json index = json::parse(key, nullptr, false);  // the schema allows digits only
      if (!index.is_number_unsigned() || index.get<uint64_t>() > INT32_MAX) {
        throw Error(where, "manifest field $.id2label['" + key + "']: key is out of range",
                    "a class index <= " + std::to_string(INT32_MAX));
      }
      m.id2label[static_cast<int>(index.get<uint64_t>())] = value.get<std::string>();
    }
  }
  for (const auto& [name, g] : data.at("graphs").items()) m.graphs[name] = read_graph(g);
  for (const auto& [name, e] : data.at("engines").items()) m.engines[name] = read_engine(e);
  for (const auto& [rel, f] : data.at("files").items()) {
    m.files[rel] = FileRecord{f.at("sha256").get<std::string>(), f.at("bytes").get<uint64_t>()};
  }
  return m;
}

// Every file name the manifest mentions, for resolve_inside before anything is opened.
std::vector<std::string> file_names(const Manifest& m) {
  std::vector<std::string> names;
  for (const auto& [rel, record] : m.files) names.push_back(rel);
  for (const auto& [variant, graph] : m.graphs) {
    names.push_back(graph.file);
    names.insert(names.end(), graph.data_files.begin(), graph.data_files.end());
    names.insert(names.end(), graph.openvino_ir.begin(), graph.openvino_ir.end());
  }
  for (const auto& [variant, engine] : m.engines) names.push_back(engine.file);
  return names;
}

}  // namespace

std::vector<std::string> GraphRecord::openvino_files() const {
  if (!openvino_ir.empty()) return openvino_ir;
  std::vector<std::string> files{file};
  files.insert(files.end(), data_files.begin(), data_files.end());
  return files;
}

std::string resolve_inside(const std::string& directory, const std::string& name) {
  return detail::resolve_inside(directory, name).string();
}

Manifest read_manifest(const std::string& directory) {
  std::error_code ec;
  if (!fs::is_directory(directory, ec)) {
    throw Error(directory, "artifact directory does not exist", "a directory written by ijepa-export");
  }
  const std::string path = join(directory, kManifestName);
  if (!fs::is_regular_file(path, ec)) {
    throw Error(directory, std::string("no ") + kManifestName + " in the directory",
                "a directory written by ijepa-export");
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  detail::check_manifest(text, path);  // invalid JSON, schema, consistency
  Manifest manifest;
  try {
    manifest = parse(json::parse(text), path);
  } catch (const json::exception& exc) {  // not expected after the checks: still a user error, not a crash
    throw Error(path, std::string("manifest has a malformed field (") + exc.what() + ")", kExpectedManifest);
  }
  for (const auto& name : file_names(manifest)) detail::resolve_inside(directory, name, path);
  return manifest;
}

std::string sha256_file(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> fh(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!fh) throw Error(path, "cannot open the file for reading", "a readable artifact file");
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    throw Error(path, "OpenSSL could not start a SHA-256 digest", "a working libcrypto");
  }
  std::vector<unsigned char> block(1 << 22);
  size_t got;
  while ((got = std::fread(block.data(), 1, block.size(), fh.get())) > 0) {
    EVP_DigestUpdate(ctx.get(), block.data(), got);
  }
  if (std::ferror(fh.get())) throw Error(path, "read error while hashing", "a readable artifact file");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  static const char* hex = "0123456789abcdef";
  std::string text;
  for (unsigned int i = 0; i < length; ++i) {
    text += hex[digest[i] >> 4];
    text += hex[digest[i] & 15];
  }
  return text;
}

void verify_files(const std::string& directory, const Manifest& manifest, const std::vector<std::string>& relpaths) {
  std::vector<std::string> paths;  // all of them confined before opening any
  for (const auto& rel : relpaths) paths.push_back(detail::resolve_inside(directory, rel).string());
  for (size_t i = 0; i < relpaths.size(); ++i) {
    const std::string& rel = relpaths[i];
    const std::string& path = paths[i];
    auto entry = manifest.files.find(rel);
    if (entry == manifest.files.end()) {
      throw Error(path, "file is not recorded in the manifest",
                  "every artifact file listed under 'files' with its sha256");
    }
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      throw Error(path, "artifact file is missing",
                  "the files ijepa-export wrote (re-export or copy the whole directory)");
    }
    if (fs::file_size(path, ec) != entry->second.bytes || sha256_file(path) != entry->second.sha256) {
      throw Error(path, "checksum mismatch: the file was modified or truncated",
                  "sha256 " + entry->second.sha256.substr(0, 16) + "... as recorded at export (re-export or re-copy)");
    }
  }
}

}  // namespace ijepa
