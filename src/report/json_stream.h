// Writes a JSON document piece by piece, byte for byte what nlohmann::json::dump(2) gives for
// the same document, so a large report never exists in memory whole (issue 17: the DOM and its
// text doubled perfbpf's RSS at the end of a long session). Containers are opened and closed
// by hand; any value in them may be a small nlohmann::json dumped on its own. Objects must be
// given their members in nlohmann's order (std::map: keys sorted), which write_object() does.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace perfbpf {

class JsonStreamWriter {
 public:
  using Sink = std::function<void(std::string_view)>;
  // SINK receives the text in chunks of about kChunk bytes (it must throw on failure).
  explicit JsonStreamWriter(Sink sink);

  void begin_object();
  void begin_array();
  void end();  // closes the innermost open container
  void key(const std::string& name);       // the next member's name, in an object
  void value(const nlohmann::json& value);  // a whole value, as an array element or a member's
  void finish();                            // hands the rest to the sink; call once, at the end

  static constexpr size_t kChunk = 64 << 10;

 private:
  void element();  // separator and indentation before a value in an array (a member: in key())
  void put(std::string_view text);

  struct Open {
    bool array = false;
    bool empty = true;
  };
  Sink sink_;
  std::string buffer_;
  std::vector<Open> open_;
  bool after_key_ = false;
};

// Writes an object whose members are SMALL's (dumped as they are) and LARGE's (each written by
// its function, e.g. an array streamed element by element), in nlohmann's key order. A key in
// both is written by LARGE.
using JsonMemberWriter = std::function<void(JsonStreamWriter&)>;
void write_object(JsonStreamWriter& w, const nlohmann::json& small, const std::map<std::string, JsonMemberWriter>& large);

// An array of N elements, element I made by MAKE(I) and dumped as soon as it is made.
void write_array(JsonStreamWriter& w, size_t n, const std::function<nlohmann::json(size_t)>& make);

}  // namespace perfbpf
