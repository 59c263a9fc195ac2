#include "ijepa/error.hpp"

#include <utility>

namespace ijepa {

namespace {
std::string format(const std::string& subject, const std::string& problem, const std::string& expected) {
  std::string text = subject + " | " + problem;
  if (!expected.empty()) text += ". Note: expected " + expected;
  return text;
}
}  // namespace

Error::Error(std::string subject, std::string problem, std::string expected)
    : std::runtime_error(format(subject, problem, expected)),
      subject_(std::move(subject)),
      problem_(std::move(problem)),
      expected_(std::move(expected)) {}

}  // namespace ijepa
