// Reading a JSON report's fields with the JSON path of each in every error, so a malformed
// report says where ("stacks.frames[3].name is missing"). Used by every section's reader.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace perfbpf {

// Throws JsonReader::Malformed{where, what}; json_report.cpp turns it into an Error naming the report.
class JsonReader {
 public:
  using json = nlohmann::json;

  JsonReader(const json& j, std::string path) : j_(j), path_(std::move(path)) {}

  const json& field(const std::string& key, json::value_t type) const {
    if (!j_.is_object()) fail(path_, "is not an object");
    auto it = j_.find(key);
    std::string where = path_.empty() ? key : path_ + "." + key;
    if (it == j_.end()) fail(where, "is missing");
    if (!type_matches(*it, type)) fail(where, std::string("should be ") + type_name(type));
    return *it;
  }
  std::string str(const std::string& key) const { return field(key, json::value_t::string).get<std::string>(); }
  uint64_t u64(const std::string& key) const { return field(key, json::value_t::number_unsigned).get<uint64_t>(); }
  int64_t i64(const std::string& key) const { return field(key, json::value_t::number_integer).get<int64_t>(); }
  double num(const std::string& key) const { return field(key, json::value_t::number_float).get<double>(); }
  bool boolean(const std::string& key) const { return field(key, json::value_t::boolean).get<bool>(); }
  JsonReader object(const std::string& key) const {
    field(key, json::value_t::object);
    return JsonReader(j_.at(key), path_.empty() ? key : path_ + "." + key);
  }
  const json& array(const std::string& key) const { return field(key, json::value_t::array); }
  bool has(const std::string& key) const { return j_.is_object() && j_.contains(key); }
  std::string path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  // Element I of the array KEY, read with its own path ("system.processes[2]").
  JsonReader item(const std::string& key, size_t i) const {
    return JsonReader(array(key).at(i), path(key) + "[" + std::to_string(i) + "]");
  }
  // An object of name -> non-negative integer (lost_by_reason and the like).
  std::map<std::string, uint64_t> counts(const std::string& key) const {
    std::map<std::string, uint64_t> out;
    for (const auto& [name, n] : field(key, json::value_t::object).items()) {
      if (!n.is_number_unsigned()) fail(path(key) + "." + name, "should be a non-negative integer");
      out[name] = n.get<uint64_t>();
    }
    return out;
  }
  std::vector<std::string> strings(const std::string& key) const {
    std::vector<std::string> out;
    const json& a = array(key);
    for (size_t i = 0; i < a.size(); i++) {
      if (!a[i].is_string()) fail(path(key) + "[" + std::to_string(i) + "]", "should be a string");
      out.push_back(a[i].get<std::string>());
    }
    return out;
  }

  // Caught where the report's source is known, which names it in the message.
  struct Malformed {
    std::string where, what;
  };
  [[noreturn]] static void fail(const std::string& where, const std::string& what) { throw Malformed{where, what}; }

 private:
  static bool type_matches(const json& v, json::value_t type) {
    switch (type) {
      case json::value_t::number_unsigned: return v.is_number_unsigned();
      case json::value_t::number_integer: return v.is_number_integer();
      case json::value_t::number_float: return v.is_number();
      default: return v.type() == type;
    }
  }
  static const char* type_name(json::value_t type) {
    switch (type) {
      case json::value_t::number_unsigned: return "a non-negative integer";
      case json::value_t::number_integer: return "an integer";
      case json::value_t::number_float: return "a number";
      case json::value_t::string: return "a string";
      case json::value_t::boolean: return "true or false";
      case json::value_t::array: return "an array";
      default: return "an object";
    }
  }
  const json& j_;
  std::string path_;
};


}  // namespace perfbpf
