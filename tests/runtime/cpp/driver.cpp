// Test driver for tests/runtime/cpp: pytest runs it as a subprocess and reads raw float32 files
// and one JSON line on stdout. Exit 3 = ijepa::Error (message on stderr), 4 = other exception.
//
//   driver preprocess DIR OUT IMAGE...                 -> [N,3,H,W] float32 to OUT
//   driver run DIR BACKEND PRECISION OUT IMAGE...      -> embeddings or logits float32 to OUT
//   driver load DIR BACKEND PRECISION [allow-unverified]
//   driver formats                                     -> {"formats": ["jpeg", "png", ...]}
//   driver resolve DIR NAME                            -> {"path": ...} or the confinement error
// Options anywhere: --allow-unverified, --allow-engine-host-code, --max-concurrency=N (LoadOptions for
// load / run / concurrency), --backend=NAME (concurrency; default openvino).
//   driver concurrency DIR PRECISION THREADS CALLS IMAGE...
//   driver trt-compat VERSION CC BUILT_VERSION BUILT_CC VERSION_COMPATIBLE HW_LEVEL
// An IMAGE is a path, "bytes:PATH" (encoded bytes in memory) or "pixels:W:H:C:PATH" (raw uint8 HWC).
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ijepa/ijepa.hpp"

namespace {

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

ijepa::ImageInput image_arg(const std::string& arg) {
  if (arg.rfind("bytes:", 0) == 0) return ijepa::ImageInput::encoded(read_bytes(arg.substr(6)));
  if (arg.rfind("pixels:", 0) == 0) {
    std::istringstream spec(arg.substr(7));
    std::string w, h, c, path;
    std::getline(spec, w, ':');
    std::getline(spec, h, ':');
    std::getline(spec, c, ':');
    std::getline(spec, path);
    const auto data = read_bytes(path);
    const int width = std::stoi(w), height = std::stoi(h), channels = std::stoi(c);
    if (data.size() != static_cast<size_t>(width) * height * channels) throw std::runtime_error("pixel file size");
    return ijepa::ImageInput::pixels(data.data(), width, height, channels);
  }
  return ijepa::ImageInput::file(arg);
}

std::vector<ijepa::ImageInput> images_from(int argc, char** argv, int first) {
  std::vector<ijepa::ImageInput> images;
  for (int i = first; i < argc; ++i) images.push_back(image_arg(argv[i]));
  return images;
}

void write_floats(const std::string& path, const std::vector<float>& data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size() * sizeof(float)));
}

std::string shape_json(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

ijepa::LoadOptions g_options;  // from the --options on the command line
std::string g_backend = "openvino";  // concurrency: --backend=tensorrt

int preprocess(int argc, char** argv) {
  const ijepa::Manifest manifest = ijepa::read_manifest(argv[2]);
  const ijepa::Preprocessor pre(manifest.preprocessing);
  const auto images = images_from(argc, argv, 4);
  write_floats(argv[3], pre(images));
  std::cout << "{\"images\": " << images.size() << "}\n";
  return 0;
}

int run(int argc, char** argv) {
  ijepa::Model model = ijepa::Model::load(argv[2], argv[3], argv[4], g_options);
  const auto images = images_from(argc, argv, 6);
  const bool classify = model.task() == "image-classification";
  const ijepa::Tensor out = classify ? model.logits(images) : model.embed(images);
  write_floats(argv[5], out.data);
  std::cout << "{\"variant\": \"" << model.variant() << "\", \"max_batch\": " << model.max_batch()
            << ", \"shape\": " << shape_json(out.shape);
  if (classify) {
    std::cout << ", \"top_k\": [";
    const auto top = model.top_k(out, 5);
    for (size_t i = 0; i < top.size(); ++i) {
      std::cout << (i ? ", " : "") << "[";
      for (size_t j = 0; j < top[i].size(); ++j) {
        std::cout << (j ? ", " : "") << "[\"" << escape(top[i][j].label) << "\", " << top[i][j].prob << "]";
      }
      std::cout << "]";
    }
    std::cout << "]";
  }
  std::cout << "}\n";
  return 0;
}

int load(int argc, char** argv) {
  ijepa::LoadOptions options = g_options;
  if (argc > 5 && std::string(argv[5]) == "allow-unverified") options.allow_unverified = true;
  ijepa::Model model = ijepa::Model::load(argv[2], argv[3], argv[4], options);
  std::cout << "{\"variant\": \"" << model.variant() << "\"}\n";
  return 0;
}

int concurrency(int argc, char** argv) {
  ijepa::Model model = ijepa::Model::load(argv[2], g_backend, argv[3], g_options);
  const int threads = std::stoi(argv[4]);
  const int calls = std::stoi(argv[5]);
  const auto images = images_from(argc, argv, 6);
  // Reference: each image alone, single-threaded.
  std::vector<std::vector<float>> reference;
  for (const auto& image : images) reference.push_back(model.embed({image}).data);
  std::atomic<int> mismatches{0}, errors{0}, done{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int c = 0; c < calls; ++c) {
        const size_t which = static_cast<size_t>(t + c) % images.size();
        try {
          if (model.embed({images[which]}).data != reference[which]) ++mismatches;
          ++done;
        } catch (const std::exception&) {
          ++errors;
        }
      }
    });
  }
  for (auto& thread : pool) thread.join();
  std::cout << "{\"calls\": " << done.load() << ", \"mismatches\": " << mismatches.load()
            << ", \"errors\": " << errors.load() << "}\n";
  return 0;
}

}  // namespace

int resolve(char** argv) {
  const std::string path = ijepa::resolve_inside(argv[2], argv[3]);
  std::cout << "{\"path\": \"" << escape(path) << "\"}\n";
  return 0;
}

int main(int argc, char** argv) {
  int kept = 0;  // drop the --options, keep the positional arguments in order
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--allow-unverified") g_options.allow_unverified = true;
    else if (arg == "--allow-engine-host-code") g_options.allow_engine_host_code = true;
    else if (arg.rfind("--max-concurrency=", 0) == 0) g_options.max_concurrency = std::stoi(arg.substr(18));
    else if (arg.rfind("--backend=", 0) == 0) g_backend = arg.substr(10);
    else argv[kept++] = argv[i];
  }
  argc = kept;
  if (argc < 2 || (argc < 3 && std::string(argv[1]) != "formats")) {
    std::cerr << "usage: see the comment at the top of driver.cpp\n";
    return 2;
  }
  const std::string command = argv[1];
  try {
    if (command == "preprocess" && argc >= 4) return preprocess(argc, argv);
    if (command == "run" && argc >= 7) return run(argc, argv);
    if (command == "load" && argc >= 5) return load(argc, argv);
    if (command == "concurrency" && argc >= 7) return concurrency(argc, argv);
    if (command == "resolve" && argc == 4) return resolve(argv);
    if (command == "formats") {
      std::string list;
      for (const auto& name : ijepa::image_formats()) list += (list.empty() ? "\"" : ", \"") + name + "\"";
      std::cout << "{\"formats\": [" << list << "]}\n";
      return 0;
    }
    std::cerr << "unknown command or missing arguments\n";
    return 2;
  } catch (const ijepa::Error& exc) {
    std::cerr << exc.what() << "\n";
    return 3;
  } catch (const std::exception& exc) {
    std::cerr << "unexpected " << typeid(exc).name() << ": " << exc.what() << "\n";
    return 4;
  }
}
