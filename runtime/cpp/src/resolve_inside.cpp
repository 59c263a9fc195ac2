// resolve_inside: a manifest's file name as a path that stays inside the artifact directory.
#include <filesystem>
#include <string>
#include <system_error>

#include "ijepa/error.hpp"
#include "manifest_schema.hpp"
#include "python_text.hpp"

namespace fs = std::filesystem;

namespace ijepa::detail {

fs::path resolve_inside(const std::string& directory, const std::string& name, const std::string& where) {
  const std::string subject = where.empty() ? directory : where;
  std::error_code ec;
  const fs::path base = fs::weakly_canonical(fs::absolute(directory, ec), ec);
  fs::path target;
  if (!ec) target = fs::weakly_canonical(fs::absolute(directory, ec) / name, ec);
  if (ec) {
    throw Error(subject, "file name " + repr(name) + " cannot be resolved (" + ec.message() + ")",
                "a file inside the artifact directory");
  }
  // Inside: base is a leading run of target's components (lexically, after symlinks were resolved).
  auto b = base.begin(), t = target.begin();
  for (; b != base.end() && t != target.end() && *b == *t; ++b, ++t) {
  }
  const bool inside = b == base.end() || (std::next(b) == base.end() && b->empty());  // "dir/" ends in ""
  if (fs::path(name).is_absolute() || name.empty() || !inside) {
    throw Error(subject, "file name " + repr(name) + " points outside the artifact directory (to " + target.string() + ")",
                "a file inside the artifact directory (relative, no '..', no symlink leading out)");
  }
  return target;
}

}  // namespace ijepa::detail
