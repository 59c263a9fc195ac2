// The JSON Schema keywords the shipped manifest schema uses, interpreted with the messages of
// ijepa_deploy/manifest_schema.py (see json_schema.hpp).
#include "json_schema.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <map>
#include <regex>
#include <vector>

#include "ijepa/error.hpp"
#include "python_text.hpp"

using nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace ijepa::detail {

namespace {

using JsonPath = std::vector<json>;  // string keys and integer indices

struct Failure {
  JsonPath path;
  std::string problem, expected;
};

bool is_identifier(const std::string& key) {
  if (key.empty() || std::isdigit(static_cast<unsigned char>(key[0]))) return false;
  return std::all_of(key.begin(), key.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

std::string path_text(const JsonPath& path) {
  std::string out = "$";
  for (const json& part : path) {
    if (part.is_number_integer()) out += "[" + std::to_string(part.get<int64_t>()) + "]";
    else out += is_identifier(part.get<std::string>()) ? "." + part.get<std::string>() : "[" + repr(part.get<std::string>()) + "]";
  }
  return out;
}

const std::map<std::string, std::string>& type_words() {
  static const std::map<std::string, std::string> words{
      {"object", "an object"}, {"array", "a list"},          {"string", "a string"}, {"integer", "an integer"},
      {"number", "a number"},  {"boolean", "true or false"}, {"null", "null"}};
  return words;
}

bool has_type(const ojson& value, const std::string& type) {
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "string") return value.is_string();
  if (type == "boolean") return value.is_boolean();
  if (type == "null") return value.is_null();
  if (type == "number") return value.is_number();
  if (type == "integer") {
    // Integers the runtime can hold: int64 (an unsigned beyond it, or a float past 2^53, is not one).
    if (value.is_number_unsigned()) return value.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX);
    if (value.is_number_integer()) return true;
    if (!value.is_number_float()) return false;
    const double v = value.get<double>();
    return std::isfinite(v) && v == std::floor(v) && std::fabs(v) <= 9007199254740992.0;
  }
  return false;
}

size_t code_points(const std::string& text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// Patterns run on short strings only: libstdc++'s regex recurses per character.
constexpr size_t kMaxPatternInput = 1024;

class SchemaChecker {
 public:
  explicit SchemaChecker(const ojson& root) : root_(root) {}

  // Every violation under `schema` (errors are collected, the caller picks the best).
  void check(const ojson& value, const ojson& schema, JsonPath& path, std::vector<Failure>& out) {
    if (schema.contains("$ref")) return check(value, resolve(schema["$ref"].get<std::string>()), path, out);
    if (schema.contains("type") && !type_ok(value, schema["type"])) {
      out.push_back({path, show(value) + " has the wrong type", types(schema["type"])});
      return;  // the other keywords would only repeat it
    }
    for (auto it = schema.begin(); it != schema.end(); ++it) keyword(it.key(), it.value(), value, schema, path, out);
  }

 private:
  const ojson& resolve(const std::string& ref) {
    const std::string prefix = "#/$defs/";
    if (ref.rfind(prefix, 0) != 0 || !root_["$defs"].contains(ref.substr(prefix.size()))) {
      throw Error("manifest schema", "unsupported $ref " + ref, "#/$defs/<name>");
    }
    return root_["$defs"][ref.substr(prefix.size())];
  }

  static bool type_ok(const ojson& value, const ojson& type) {
    if (type.is_string()) return has_type(value, type.get<std::string>());
    return std::any_of(type.begin(), type.end(), [&](const ojson& t) { return has_type(value, t.get<std::string>()); });
  }

  static std::string types(const ojson& type) {
    std::string out;
    const ojson list = type.is_array() ? type : ojson::array({type});
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string name = list[i].get<std::string>();
      auto word = type_words().find(name);
      out += (i ? " or " : "") + (word == type_words().end() ? name : word->second);
    }
    return out;
  }

  static std::string joined_keys(const ojson& object, const std::string& sep) {
    std::string out;
    for (auto it = object.begin(); it != object.end(); ++it) out += (it == object.begin() ? "" : sep) + it.key();
    return out;
  }

  bool matches(const std::string& text, const std::string& pattern) {
    if (text.size() > kMaxPatternInput) return false;
    auto found = regexes_.find(pattern);
    if (found == regexes_.end()) found = regexes_.emplace(pattern, std::regex(pattern, std::regex::ECMAScript)).first;
    return std::regex_search(text, found->second);
  }

  void keyword(const std::string& key, const ojson& want, const ojson& value, const ojson& schema, JsonPath& path,
               std::vector<Failure>& out) {
    if (key == "enum" && std::find(want.begin(), want.end(), value) == want.end()) {
      std::string allowed;
      for (size_t i = 0; i < want.size(); ++i) allowed += (i ? ", " : "") + show(want[i]);
      out.push_back({path, show(value) + " is not allowed", "one of " + allowed});
    } else if (key == "const" && value != want) {
      out.push_back({path, show(value) + " is not allowed", show(want)});
    } else if (key == "oneOf") {
      one_of(want, value, path, out);
    } else if (value.is_number()) {
      number_keyword(key, want, value, path, out);
    } else if (value.is_string()) {
      const std::string text = value.get<std::string>();
      if (key == "minLength" && code_points(text) < want.get<size_t>()) {
        out.push_back({path, show(value) + " is too short", "at least " + want.dump() + " item(s)"});
      } else if (key == "pattern" && !matches(text, want.get<std::string>())) {
        out.push_back({path, show(value) + " is not allowed",
                       schema.value("description", "a string matching " + want.get<std::string>())});
      }
    } else if (value.is_array()) {
      array_keyword(key, want, value, schema, path, out);
    } else if (value.is_object()) {
      object_keyword(key, want, value, schema, path, out);
    }
  }

  void one_of(const ojson& branches, const ojson& value, JsonPath& path, std::vector<Failure>& out) {
    std::vector<std::vector<Failure>> results(branches.size());
    size_t valid = 0;
    for (size_t i = 0; i < branches.size(); ++i) {
      check(value, branches[i], path, results[i]);
      valid += results[i].empty();
    }
    if (valid == 1) return;
    if (valid > 1) {
      out.push_back({path, show(value) + " matches more than one alternative", "exactly one"});
      return;
    }
    for (size_t i = 0; i < branches.size(); ++i) {
      const ojson& branch = branches[i].contains("$ref") ? resolve(branches[i]["$ref"].get<std::string>()) : branches[i];
      if (!branch.contains("type") || type_ok(value, branch["type"])) {
        out.insert(out.end(), results[i].begin(), results[i].end());  // the branch of the right type says why
        return;
      }
    }
    // every branch refused the type: jsonschema's own words (the Python message falls back to them)
    out.push_back({path, python_repr(value) + " is not valid under any of the given schemas",
                   "what schema/manifest.schema.json allows here"});
  }

  static void number_keyword(const std::string& key, const ojson& want, const ojson& value, JsonPath& path,
                             std::vector<Failure>& out) {
    const double v = value.get<double>(), w = want.is_number() ? want.get<double>() : 0.0;
    const char* sign = nullptr;
    if (key == "minimum" && !(v >= w)) sign = ">=";
    else if (key == "exclusiveMinimum" && !(v > w)) sign = ">";
    else if (key == "maximum" && !(v <= w)) sign = "<=";
    else if (key == "exclusiveMaximum" && !(v < w)) sign = "<";
    if (sign) out.push_back({path, show(value) + " is out of range", std::string("a value ") + sign + " " + want.dump()});
  }

  void array_keyword(const std::string& key, const ojson& want, const ojson& value, const ojson& schema, JsonPath& path,
                     std::vector<Failure>& out) {
    if (key == "minItems" && value.size() < want.get<size_t>()) {
      out.push_back({path, show(value) + " is too short", "at least " + want.dump() + " item(s)"});
    } else if (key == "maxItems" && value.size() > want.get<size_t>()) {
      out.push_back({path, show(value) + " is too long", "at most " + want.dump() + " item(s)"});
    } else if (key == "prefixItems" || key == "items") {
      const size_t prefix = schema.contains("prefixItems") ? schema["prefixItems"].size() : 0;
      const size_t first = key == "items" ? prefix : 0, last = key == "items" ? value.size() : std::min(prefix, value.size());
      for (size_t i = first; i < last; ++i) {
        path.push_back(static_cast<int64_t>(i));
        check(value[i], key == "items" ? want : want[i], path, out);
        path.pop_back();
      }
    }
  }

  void object_keyword(const std::string& key, const ojson& want, const ojson& value, const ojson& schema, JsonPath& path,
                      std::vector<Failure>& out) {
    const ojson none = ojson::object();
    const ojson& properties = schema.contains("properties") ? schema["properties"] : none;
    if (key == "required") {
      for (const auto& name : want) {
        if (!value.contains(name.get<std::string>())) {
          std::string all;
          for (size_t i = 0; i < want.size(); ++i) all += (i ? ", " : "") + want[i].get<std::string>();
          out.push_back({path, "missing key " + repr(name.get<std::string>()), "the keys " + all});
          return;
        }
      }
    } else if (key == "minProperties" && value.size() < want.get<size_t>()) {
      out.push_back({path, show(value) + " is too short", "at least " + want.dump() + " item(s)"});
    } else if (key == "properties") {
      for (auto it = want.begin(); it != want.end(); ++it) {
        if (!value.contains(it.key())) continue;
        path.push_back(it.key());
        check(value[it.key()], it.value(), path, out);
        path.pop_back();
      }
    } else if (key == "additionalProperties") {
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (properties.contains(it.key())) continue;
        if (want.is_boolean() && !want.get<bool>()) {
          out.push_back({path, "unknown key " + repr(it.key()), "only the keys " + joined_keys(properties, ", ")});
          return;
        }
        path.push_back(it.key());
        check(it.value(), want, path, out);
        path.pop_back();
      }
    } else if (key == "propertyNames") {
      for (auto it = value.begin(); it != value.end(); ++it) {
        std::vector<Failure> found;
        check(ojson(it.key()), want, path, found);
        if (found.empty()) continue;
        path.push_back(it.key());  // a bad key is reported at the object that holds it, by name
        out.push_back({path, "key " + found.front().problem, found.front().expected});
        path.pop_back();
      }
    }
  }

  const ojson& root_;
  std::map<std::string, std::regex> regexes_;
};

Error fail(const std::string& where, const std::string& path, const std::string& problem, const std::string& expected) {
  return Error(where, "manifest field " + path + ": " + problem, expected);
}

}  // namespace

void check_schema(const ojson& schema, const ojson& data, const std::string& where) {
  std::vector<Failure> found;
  JsonPath path;
  SchemaChecker(schema).check(data, schema, path, found);
  if (found.empty()) return;
  // jsonschema's best_match prefers the error nearest the root; the first of those.
  const auto best = std::min_element(found.begin(), found.end(),
                                     [](const Failure& a, const Failure& b) { return a.path.size() < b.path.size(); });
  throw fail(where, path_text(best->path), best->problem, best->expected);
}

}  // namespace ijepa::detail
