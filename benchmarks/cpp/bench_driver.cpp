// ijepa-bench --cpp's C++ side (benchmarks/cpp_rows.py): one long-lived process per run so the
// Python harness can interleave C++ and Python calls round by round on the same images.
//
//   ijepa_bench_driver DIR PRECISION THREADS IMAGE...
//
// Loads the model once (OpenVINO, THREADS inference threads; 0 = OpenVINO's default), prints one
// JSON line {"ready": true, ...}, then answers one JSON line per command read from stdin:
//   ping                 -> {"ms": 0}                     (the pipe round trip, measured by Python)
//   embed K              -> {"ms": T}   decode + preprocess + infer of the first K images as one call
//                                       (embed, or classify top-5 on classification artifacts)
//   preprocess K         -> {"ms": T}   decode + preprocess only
//   output K PATH        -> {"shape": [...]} writes the float32 embeddings / logits of the first K
//   quit
// Images are file paths: decoding is part of what is timed, as in the Python runtime's embed(paths).
// An ijepa::Error answers {"error": "..."} and ends the process with exit code 3.
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "ijepa/ijepa.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += (c == '\n' ? ' ' : c);
  }
  return out + "\"";
}

std::vector<ijepa::ImageInput> first(const std::vector<ijepa::ImageInput>& images, size_t k) {
  if (k < 1 || k > images.size()) {
    throw ijepa::Error("bench driver", "asked for " + std::to_string(k) + " images",
                       "1.." + std::to_string(images.size()));
  }
  return {images.begin(), images.begin() + static_cast<std::ptrdiff_t>(k)};
}

int serve(ijepa::Model& model, const std::vector<ijepa::ImageInput>& images) {
  const bool classify = model.task() == "image-classification";
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string command;
    size_t k = 0;
    in >> command >> k;
    if (command == "quit") return 0;
    if (command == "ping") {
      std::cout << "{\"ms\": 0}" << std::endl;
    } else if (command == "embed") {
      const auto batch = first(images, k);
      const auto start = Clock::now();
      if (classify) {
        model.classify(batch, 5);
      } else {
        model.embed(batch);
      }
      std::cout << "{\"ms\": " << ms_since(start) << "}" << std::endl;
    } else if (command == "preprocess") {
      const auto batch = first(images, k);
      const auto start = Clock::now();
      model.preprocessor()(batch);
      std::cout << "{\"ms\": " << ms_since(start) << "}" << std::endl;
    } else if (command == "output") {
      std::string path;
      in >> path;
      const auto batch = first(images, k);
      const ijepa::Tensor out = classify ? model.logits(batch) : model.embed(batch);
      std::ofstream file(path, std::ios::binary);
      file.write(reinterpret_cast<const char*>(out.data.data()),
                 static_cast<std::streamsize>(out.data.size() * sizeof(float)));
      std::cout << "{\"shape\": [" << out.shape.at(0) << ", " << out.shape.at(1) << "]}" << std::endl;
    } else {
      std::cout << "{\"error\": " << quoted("unknown command: " + line) << "}" << std::endl;
      return 2;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: ijepa_bench_driver DIR PRECISION THREADS IMAGE...\n";
    return 2;
  }
  try {
    ijepa::LoadOptions options;
    options.num_threads = std::stoi(argv[3]);
    const auto start = Clock::now();
    ijepa::Model model = ijepa::Model::load(argv[1], "openvino", argv[2], options);
    const double load_ms = ms_since(start);
    std::vector<ijepa::ImageInput> images;
    for (int i = 4; i < argc; ++i) images.push_back(ijepa::ImageInput::file(argv[i]));
    std::cout << "{\"ready\": true, \"load_ms\": " << load_ms << ", \"variant\": " << quoted(model.variant())
              << ", \"task\": " << quoted(model.task()) << ", \"max_batch\": " << model.max_batch()
              << ", \"images\": " << images.size() << "}" << std::endl;
    return serve(model, images);
  } catch (const ijepa::Error& exc) {
    std::cout << "{\"error\": " << quoted(exc.what()) << "}" << std::endl;
    return 3;
  } catch (const std::exception& exc) {
    std::cout << "{\"error\": " << quoted(std::string("unexpected: ") + exc.what()) << "}" << std::endl;
    return 4;
  }
}
