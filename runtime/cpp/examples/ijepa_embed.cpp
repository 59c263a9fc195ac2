// ijepa_embed ARTIFACT IMAGE... [--backend openvino] [--precision fp32] [--top-k 5] [--threads N]
// Prints one JSON line per image in ijepa-embed's format:
//   {"image": "cat.jpg", "dim": 1280, "norm": 41.2, "head": [0.1, -0.2, 0.3, 0.05]}
//   {"image": "cat.jpg", "top_k": [{"label": "tabby", "prob": 0.93}, ...]}   (classification)
// Errors print "subject | problem. Note: expected ..." on stderr and exit 1, like the Python CLI.
#include <cmath>
#include <cstdio>
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

int usage() {
  std::cerr << "usage: ijepa_embed ARTIFACT IMAGE... [--backend openvino|tensorrt] [--precision fp32|int8|...] "
               "[--top-k K] [--threads N]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string artifact, backend = "openvino", precision = "fp32";
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
    else if (arg.rfind("--", 0) == 0) return usage();
    else if (artifact.empty()) artifact = arg;
    else paths.push_back(arg);
  }
  if (artifact.empty() || paths.empty()) return usage();
  try {
    ijepa::Model model = ijepa::Model::load(artifact, backend, precision, options);
    std::vector<ijepa::ImageInput> images;
    for (const auto& path : paths) images.push_back(ijepa::ImageInput::file(path));
    if (model.task() == "image-classification") {
      const auto results = model.classify(images, top_k);
      for (size_t i = 0; i < paths.size(); ++i) {
        std::ostringstream line;
        line << "{\"image\": " << quoted(paths[i]) << ", \"top_k\": [";
        for (size_t j = 0; j < results[i].size(); ++j) {
          line << (j ? ", " : "") << "{\"label\": " << quoted(results[i][j].label)
               << ", \"prob\": " << number(results[i][j].prob) << "}";
        }
        std::cout << line.str() << "]}\n";
      }
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
    return 0;
  } catch (const ijepa::Error& exc) {
    std::cerr << exc.what() << "\n";
    return 1;
  }
}
