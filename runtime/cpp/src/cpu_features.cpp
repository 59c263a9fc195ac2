// What this CPU can do for INT8, read from /proc/cpuinfo: runtime/cpu_features.py's rule.
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "backends.hpp"

namespace ijepa::detail {

namespace {

std::set<std::string> cpu_flags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream words(line.substr(colon + 1));
    std::set<std::string> flags;
    for (std::string flag; words >> flag;) flags.insert(flag);
    return flags;
  }
  return {};
}

}  // namespace

bool int8_dot_product() {
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
  // x86 without VNNI / AMX multiplies u8 x s8 pairs into saturating 16-bit sums. Hosts whose flags
  // cannot be read count as capable (nothing is refused on a guess).
  static const bool capable = [] {
    const std::set<std::string> flags = cpu_flags();
    return flags.empty() || flags.count("avx512_vnni") || flags.count("avx_vnni") || flags.count("amx_int8");
  }();
  return capable;
#else
  return true;
#endif
}

}  // namespace ijepa::detail
