// Internal: a small interpreter for the JSON Schema keywords the shipped manifest schema uses
// (ijepa_deploy/schema/manifest.schema.json), reporting the violation jsonschema's best_match would.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace ijepa::detail {

// Throws ijepa::Error naming `where` and the violation nearest the root when `data` does not match
// `schema` (its $refs resolve under schema's $defs).
void check_schema(const nlohmann::ordered_json& schema, const nlohmann::ordered_json& data, const std::string& where);

}  // namespace ijepa::detail
