// Internal: Python's reprs of parsed JSON, so the C++ runtime's error messages read word for word
// like ijepa_deploy/manifest_schema.py's (tests compare the two).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace ijepa::detail {

// Python's repr() of a str, for ASCII names: 'name' (or "name" when it holds a single quote).
std::string repr(const std::string& text);

// Python's _show(): json.dumps(value) cut to 60 characters.
std::string show(const nlohmann::ordered_json& value);

// Python's repr() of parsed JSON (None, True, 'text', [..], {..}), cut after 200 characters.
std::string python_repr(const nlohmann::ordered_json& value);

}  // namespace ijepa::detail
