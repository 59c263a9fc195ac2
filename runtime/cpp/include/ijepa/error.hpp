// The one user-facing error type, mirroring Python's IJepaDeployError:
// what() is "subject | problem. Note: expected ...".
#pragma once

#include <stdexcept>
#include <string>

namespace ijepa {

class Error : public std::runtime_error {
 public:
  Error(std::string subject, std::string problem, std::string expected = {});

  const std::string& subject() const noexcept { return subject_; }
  const std::string& problem() const noexcept { return problem_; }
  const std::string& expected() const noexcept { return expected_; }

 private:
  std::string subject_;
  std::string problem_;
  std::string expected_;
};

}  // namespace ijepa
