// ijepa_embed ARTIFACT IMAGE... [--backend openvino] [--precision fp32] [--top-k 5] [--threads N]
//             [--output FILE.npy] [--allow-unverified] [--allow-engine-host-code]
// Prints one JSON line per image in ijepa-embed's format:
//   {"image": "cat.jpg", "dim": 1280, "norm": 41.2, "head": [0.1, -0.2, 0.3, 0.05]}
//   {"image": "cat.jpg", "top_k": [{"label": "tabby", "prob": 0.93}, ...]}   (classification)
// --output writes every vector (classification: the logits), float32 [N, D], as a NumPy .npy file
// (format 1.0), atomically: a temporary file in the same directory, renamed over FILE when complete.
// Errors print "subject | problem. Note: expected ..." on stderr and exit 1, like the Python CLI.
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "ijepa/ijepa.hpp"

namespace {

// Python's json.dumps of round(x, 6): the shortest text that reads back as the rounded double.
std::string number(double value) {
  const double rounded = std::round(value * 1e6) / 1e6;
  char text[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, rounded);
    if (std::stod(text) == rounded) break;
  }
  std::string out = text;
  if (out.find_first_of(".en") == std::string::npos) out += ".0";
  return out;
}

std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", c);
      out += esc;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

namespace fs = std::filesystem;

// Refuses what cannot become the output file before any work is done (Python's check_output_file).
void check_output_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw ijepa::Error("--output", path + " is a directory", "a file path");
  if (fs::exists(path, ec) && !fs::is_regular_file(path, ec)) {
    throw ijepa::Error("--output", path + " exists and is not a regular file", "a file path");
  }
  const fs::path parent = fs::absolute(path, ec).parent_path();
  if (!fs::is_directory(parent, ec)) {
    throw ijepa::Error("--output", "directory " + parent.string() + " does not exist", "a file in an existing directory");
  }
}

// NumPy format 1.0: magic, version, little-endian header length, a Python-literal header padded
// with spaces to a multiple of 64 bytes (ending in a newline), then the raw little-endian data.
std::string npy_header(const std::vector<int64_t>& shape) {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dims += ",";  // Python's one-element tuple
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  const size_t prefix = 10;  // magic (6) + version (2) + header length (2)
  dict.append(63 - (prefix + dict.size()) % 64, ' ');
  dict += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(dict.size() & 0xFF);
  out += static_cast<char>((dict.size() >> 8) & 0xFF);
  return out + dict;
}

void write_npy(const std::string& path, const ijepa::Tensor& tensor) {
  static_assert(sizeof(float) == 4, "float32");
  const uint16_t probe = 1;
  if (*reinterpret_cast<const uint8_t*>(&probe) != 1) throw ijepa::Error("--output", "big-endian host", "little-endian");
  const std::string temp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    const std::string header = npy_header(tensor.shape);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(reinterpret_cast<const char*>(tensor.data.data()),
              static_cast<std::streamsize>(tensor.data.size() * sizeof(float)));
    out.close();
    if (!out) {
      std::error_code ignored;
      fs::remove(temp, ignored);
      throw ijepa::Error("--output", "cannot write " + temp + " (" + std::strerror(errno) + ")",
                         "a writable directory with free space");
    }
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) {
    fs::remove(temp, ec);
    throw ijepa::Error("--output", "cannot rename the finished file to " + path, "a file path you can write to");
  }
}

int usage() {
  std::cerr << "usage: ijepa_embed ARTIFACT IMAGE... [--backend openvino|tensorrt] [--precision fp32|int8|...] "
               "[--top-k K] [--threads N] [--output FILE.npy] [--allow-unverified] [--allow-engine-host-code]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string artifact, backend = "openvino", precision = "fp32", output;
  int top_k = 5;
  ijepa::LoadOptions options;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--backend" && has_value) backend = argv[++i];
    else if (arg == "--precision" && has_value) precision = argv[++i];
    else if (arg == "--top-k" && has_value) top_k = std::atoi(argv[++i]);
    else if (arg == "--threads" && has_value) options.num_threads = std::atoi(argv[++i]);
    else if (arg == "--output" && has_value) output = argv[++i];
    else if (arg == "--allow-unverified") options.allow_unverified = true;
    else if (arg == "--allow-engine-host-code") options.allow_engine_host_code = true;
    else if (arg.rfind("--", 0) == 0) return usage();
    else if (artifact.empty()) artifact = arg;
    else paths.push_back(arg);
  }
  if (artifact.empty() || paths.empty()) return usage();
  try {
    if (!output.empty()) check_output_file(output);
    ijepa::Model model = ijepa::Model::load(artifact, backend, precision, options);
    std::vector<ijepa::ImageInput> images;
    for (const auto& path : paths) images.push_back(ijepa::ImageInput::file(path));
    if (model.task() == "image-classification") {
      const ijepa::Tensor logits = model.logits(images);
      const auto results = model.top_k(logits, top_k);
      for (size_t i = 0; i < paths.size(); ++i) {
        std::ostringstream line;
        line << "{\"image\": " << quoted(paths[i]) << ", \"top_k\": [";
        for (size_t j = 0; j < results[i].size(); ++j) {
          line << (j ? ", " : "") << "{\"label\": " << quoted(results[i][j].label)
               << ", \"prob\": " << number(results[i][j].prob) << "}";
        }
        std::cout << line.str() << "]}\n";
      }
      if (!output.empty()) write_npy(output, logits);
      return 0;
    }
    const ijepa::Tensor vectors = model.embed(images);
    const int64_t dim = vectors.shape.at(1);
    for (size_t i = 0; i < paths.size(); ++i) {
      const float* v = vectors.data.data() + i * dim;
      double norm = 0.0;
      for (int64_t j = 0; j < dim; ++j) norm += static_cast<double>(v[j]) * v[j];
      std::ostringstream line;
      line << "{\"image\": " << quoted(paths[i]) << ", \"dim\": " << dim << ", \"norm\": " << number(std::sqrt(norm))
           << ", \"head\": [";
      for (int64_t j = 0; j < std::min<int64_t>(4, dim); ++j) line << (j ? ", " : "") << number(v[j]);
      std::cout << line.str() << "]}\n";
    }
    if (!output.empty()) write_npy(output, vectors);
    return 0;
  } catch (const ijepa::Error& exc) {
    std::cerr << exc.what() << "\n";
    return 1;
  }
}
