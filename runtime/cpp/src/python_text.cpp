// Python's reprs of parsed JSON for the manifest checks' messages (see python_text.hpp).
#include "python_text.hpp"

#include <string>

using ojson = nlohmann::ordered_json;

namespace ijepa::detail {

std::string repr(const std::string& text) {  // Python's repr() of a str, for ASCII names
  const bool double_quotes = text.find('\'') != std::string::npos && text.find('"') == std::string::npos;
  const char quote = double_quotes ? '"' : '\'';
  std::string out(1, quote);
  for (char c : text) {
    if (c == quote || c == '\\') out += '\\';
    out += c;
  }
  return out + quote;
}

namespace {

// Python's json.dumps (", " and ": " separators), cut to 60 characters like _show(). Stops once
// past the cut, so a deeply nested value costs no deep recursion.
void dumps(const ojson& value, std::string& out) {
  if (out.size() > 60) return;
  if (value.is_object()) {
    out += "{";
    for (auto it = value.begin(); it != value.end() && out.size() <= 60; ++it) {
      out += (it == value.begin() ? "" : ", ") + ojson(it.key()).dump(-1, ' ', true) + ": ";
      dumps(it.value(), out);
    }
    out += "}";
  } else if (value.is_array()) {
    out += "[";
    for (size_t i = 0; i < value.size() && out.size() <= 60; ++i) {
      out += i ? ", " : "";
      dumps(value[i], out);
    }
    out += "]";
  } else {
    out += value.dump(-1, ' ', true);
  }
}

}  // namespace

std::string show(const nlohmann::ordered_json& value) {
  std::string text;
  dumps(value, text);
  return text.size() <= 60 ? text : text.substr(0, 57) + "...";
}

namespace {

// Python's repr() of parsed JSON (jsonschema's own messages show it), cut like show() would not:
// long values end in "..." after 200 characters so a hostile manifest cannot make a huge message.
void append_repr(const ojson& value, std::string& out) {
  if (out.size() > 200) return;
  if (value.is_null()) {
    out += "None";
  } else if (value.is_boolean()) {
    out += value.get<bool>() ? "True" : "False";
  } else if (value.is_string()) {
    out += repr(value.get<std::string>());
  } else if (value.is_array()) {
    out += "[";
    for (size_t i = 0; i < value.size() && out.size() <= 200; ++i) {
      out += i ? ", " : "";
      append_repr(value[i], out);
    }
    out += "]";
  } else if (value.is_object()) {
    out += "{";
    for (auto it = value.begin(); it != value.end() && out.size() <= 200; ++it) {
      out += (it == value.begin() ? "" : ", ") + repr(it.key()) + ": ";
      append_repr(it.value(), out);
    }
    out += "}";
  } else {
    out += value.dump();
  }
}

}  // namespace

std::string python_repr(const nlohmann::ordered_json& value) {
  std::string out;
  append_repr(value, out);
  return out.size() <= 200 ? out : out.substr(0, 197) + "...";
}

}  // namespace ijepa::detail
