// Reads ijepa_manifest.json with nlohmann-json and verifies files with OpenSSL's SHA-256.
#include "ijepa/manifest.hpp"

#include <openssl/evp.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ijepa/error.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ijepa {

namespace {

const char* kExpectedManifest = "a manifest written by ijepa-export";

std::string join(const std::string& directory, const std::string& rel) {
  return (fs::path(directory) / rel).string();
}

std::vector<TensorSpec> read_tensors(const json& list) {
  std::vector<TensorSpec> specs;
  for (const auto& item : list) {
    TensorSpec spec;
    spec.name = item.at("name").get<std::string>();
    spec.dtype = item.at("dtype").get<std::string>();
    for (const auto& dim : item.at("shape")) {
      spec.shape.push_back(dim.is_number_integer() ? dim.get<int64_t>() : -1);
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

PreprocessConfig read_preprocessing(const json& p) {
  PreprocessConfig c;
  c.height = p.at("height").get<int>();
  c.width = p.at("width").get<int>();
  c.resample = p.value("resample", std::string("bilinear"));
  c.do_resize = p.value("do_resize", true);
  c.do_rescale = p.value("do_rescale", true);
  c.rescale_factor = p.value("rescale_factor", 1.0 / 255.0);
  c.do_normalize = p.value("do_normalize", true);
  const auto& mean = p.at("image_mean");
  const auto& stdv = p.at("image_std");
  if (mean.size() != 3 || stdv.size() != 3) {
    throw Error("preprocessing", "mean/std must have 3 values", "RGB statistics");
  }
  for (int i = 0; i < 3; ++i) {
    // The Python runtime holds mean/std as float32 arrays: round the same way.
    c.image_mean[i] = static_cast<float>(mean[i].get<double>());
    c.image_std[i] = static_cast<float>(stdv[i].get<double>());
  }
  c.convert_rgb = p.value("convert_rgb", true);
  c.channel_order = p.value("channel_order", std::string("RGB"));
  c.layout = p.value("layout", std::string("NCHW"));
  if (c.resample != "bilinear") {
    throw Error("preprocessing", "resample filter '" + c.resample + "' is not implemented in the C++ runtime",
                "bilinear (the filter of every I-JEPA checkpoint)");
  }
  if (c.channel_order != "RGB" || c.layout != "NCHW") {
    throw Error("preprocessing", "channel order " + c.channel_order + " / layout " + c.layout,
                "RGB and NCHW");
  }
  if (c.height <= 0 || c.width <= 0) {
    throw Error("preprocessing", "height/width must be positive", "the graph's input size");
  }
  return c;
}

Manifest parse(const json& data, const std::string& where) {
  Manifest m;
  const json version = data.contains("schema_version") ? data["schema_version"] : json();
  if (!version.is_number_integer() || version.get<int>() != kSchemaVersion) {
    throw Error(where, "manifest schema_version is " + (version.is_null() ? std::string("None") : version.dump()),
                std::to_string(kSchemaVersion) + " (re-export with a matching ijepa-deploy, or use a C++ runtime "
                "that knows this schema)");
  }
  m.schema_version = version.get<int>();
  m.status = data.at("status").get<std::string>();
  m.task = data.at("task").get<std::string>();
  const auto& io = data.at("io");
  m.inputs = read_tensors(io.at("inputs"));
  m.outputs = read_tensors(io.at("outputs"));
  m.min_batch = data.at("batch").at("min").get<int>();
  m.max_batch = data.at("batch").at("max").get<int>();
  m.preprocessing = read_preprocessing(data.at("preprocessing"));
  if (data.contains("id2label") && data["id2label"].is_object()) {
    for (const auto& [key, value] : data["id2label"].items()) {
      m.id2label[std::stoi(key)] = value.get<std::string>();
    }
  }
  if (data.contains("graphs")) {
    for (const auto& [name, g] : data["graphs"].items()) {
      GraphRecord rec;
      rec.file = g.at("file").get<std::string>();
      if (g.contains("data_files")) rec.data_files = g["data_files"].get<std::vector<std::string>>();
      m.graphs[name] = std::move(rec);
    }
  }
  if (data.contains("engines")) {
    for (const auto& [name, e] : data["engines"].items()) {
      EngineRecord rec;
      rec.file = e.at("file").get<std::string>();
      auto str = [&e](const char* key) {
        return e.contains(key) && e[key].is_string() ? e[key].get<std::string>() : std::string();
      };
      rec.tensorrt_version = str("tensorrt_version");
      rec.compute_capability = str("compute_capability");
      rec.gpu_name = str("gpu_name");
      rec.hardware_compatibility = str("hardware_compatibility");
      rec.source_graph = str("source_graph");
      rec.version_compatible = e.contains("version_compatible") && e["version_compatible"].is_boolean() &&
                               e["version_compatible"].get<bool>();
      m.engines[name] = std::move(rec);
    }
  }
  if (data.contains("files")) {
    for (const auto& [rel, f] : data["files"].items()) {
      m.files[rel] = FileRecord{f.at("sha256").get<std::string>(), f.at("bytes").get<uint64_t>()};
    }
  }
  if (m.inputs.size() != 1 || m.inputs[0].shape.size() != 4) {
    throw Error(where, "io.inputs is not one [batch, 3, H, W] tensor", kExpectedManifest);
  }
  if (m.min_batch < 1 || m.max_batch < m.min_batch) {
    throw Error(where, "batch range is " + std::to_string(m.min_batch) + ".." + std::to_string(m.max_batch),
                "1 <= min <= max");
  }
  return m;
}

}  // namespace

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
  json data;
  try {
    data = json::parse(buffer.str());
  } catch (const json::parse_error& exc) {
    throw Error(path, std::string("manifest is not valid JSON (") + exc.what() + ")",
                "the file ijepa-export wrote, unmodified");
  }
  if (!data.is_object()) throw Error(path, "manifest is not a JSON object", kExpectedManifest);
  try {
    return parse(data, path);
  } catch (const json::exception& exc) {
    throw Error(path, std::string("manifest is missing or has a malformed field (") + exc.what() + ")",
                kExpectedManifest);
  }
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
  for (const auto& rel : relpaths) {
    const std::string path = join(directory, rel);
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
