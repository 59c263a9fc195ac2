// Internal: checks a parsed manifest before anything trusts it, as ijepa_deploy/manifest_schema.py
// does: (1) the JSON Schema the Python package ships (ijepa_deploy/schema/manifest.schema.json,
// embedded at build time, interpreted by json_schema.cpp: the keywords that file uses), (2) the
// consistency rules the schema cannot express, (3) resolve_inside for every file name. Errors read
// "<manifest> | manifest field $.x: problem. Note: expected ...", the Python wording.
#pragma once

#include <filesystem>
#include <string>

namespace ijepa::detail {

// Parses the manifest text and throws ijepa::Error naming the first violation (invalid JSON,
// schema, then consistency).
void check_manifest(const std::string& text, const std::string& where);

// directory / name when it resolves (symlinks followed) inside directory; else ijepa::Error naming
// `where` (the directory when empty). Never opens the file.
std::filesystem::path resolve_inside(const std::string& directory, const std::string& name,
                                     const std::string& where = {});

}  // namespace ijepa::detail
