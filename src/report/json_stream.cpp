#include "report/json_stream.h"

#include <cassert>

namespace perfbpf {

using nlohmann::json;

JsonStreamWriter::JsonStreamWriter(Sink sink) : sink_(std::move(sink)) { buffer_.reserve(kChunk + 4096); }

void JsonStreamWriter::put(std::string_view text) {
  buffer_ += text;
  if (buffer_.size() >= kChunk) {
    sink_(buffer_);
    buffer_.clear();
  }
}

// dump(2): a container's first element on a new line, the others after ",\n", each indented
// two spaces per level.
void JsonStreamWriter::element() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (open_.empty()) return;  // the document itself
  assert(open_.back().array);
  put(open_.back().empty ? "\n" : ",\n");
  open_.back().empty = false;
  put(std::string(2 * open_.size(), ' '));
}

void JsonStreamWriter::key(const std::string& name) {
  assert(!open_.empty() && !open_.back().array && !after_key_);
  put(open_.back().empty ? "\n" : ",\n");
  open_.back().empty = false;
  put(std::string(2 * open_.size(), ' '));
  put(json(name).dump());
  put(": ");
  after_key_ = true;
}

void JsonStreamWriter::begin_object() {
  element();
  put("{");
  open_.push_back({false, true});
}

void JsonStreamWriter::begin_array() {
  element();
  put("[");
  open_.push_back({true, true});
}

void JsonStreamWriter::end() {
  assert(!open_.empty() && !after_key_);
  const Open closed = open_.back();
  open_.pop_back();
  if (!closed.empty) {
    put("\n");
    put(std::string(2 * open_.size(), ' '));
  }
  put(closed.array ? "]" : "}");
}

void JsonStreamWriter::value(const json& v) {
  element();
  // A value dumped alone starts its inner lines at indent 0: shift them to this depth. Every
  // newline in dump() output is layout (inside strings it is escaped as \n).
  const std::string text = v.dump(2);
  const std::string indent(2 * open_.size(), ' ');
  size_t from = 0;
  for (size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', from)) {
    put(std::string_view(text).substr(from, nl + 1 - from));
    put(indent);
    from = nl + 1;
  }
  put(std::string_view(text).substr(from));
}

void JsonStreamWriter::finish() {
  assert(open_.empty());
  if (!buffer_.empty()) sink_(buffer_);
  buffer_.clear();
}

void write_object(JsonStreamWriter& w, const json& small, const std::map<std::string, JsonMemberWriter>& large) {
  // nlohmann's object_t is a std::map<std::string, json>: members in std::string order.
  std::map<std::string, const JsonMemberWriter*> order;
  for (const auto& [k, v] : small.items()) order.emplace(k, nullptr);
  for (const auto& [k, fn] : large) order[k] = &fn;
  w.begin_object();
  for (const auto& [k, fn] : order) {
    w.key(k);
    if (fn)
      (*fn)(w);
    else
      w.value(small.at(k));
  }
  w.end();
}

void write_array(JsonStreamWriter& w, size_t n, const std::function<json(size_t)>& make) {
  w.begin_array();
  for (size_t i = 0; i < n; i++) w.value(make(i));
  w.end();
}

}  // namespace perfbpf
