// The protocol-buffer wire format, writing side only: enough for pprof's profile.proto
// (varints, length-delimited fields, packed repeated integers). perfbpf writes one message
// type whose schema has been stable since 2016, so a 60-line encoder tested against
// `go tool pprof` (tests/) serves better than a code generator, its runtime library and a
// vendored .proto file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace perfbpf {

class ProtobufWriter {
 public:
  // Proto3 semantics: a zero scalar is the default and is not written.
  void uint(uint32_t field, uint64_t value) {
    if (value == 0) return;
    key(field, kVarint);
    varint(value);
  }
  // int64 fields are varints of the two's-complement value (not zigzag: that is sint64).
  void int64(uint32_t field, int64_t value) { uint(field, static_cast<uint64_t>(value)); }
  void boolean(uint32_t field, bool value) { uint(field, value ? 1 : 0); }
  // Strings, bytes and embedded messages: always written, empty ones too (a repeated string
  // table keeps its positions).
  void bytes(uint32_t field, std::string_view data) {
    key(field, kLengthDelimited);
    varint(data.size());
    out_.append(data);
  }
  void message(uint32_t field, const ProtobufWriter& m) { bytes(field, m.out_); }
  void packed(uint32_t field, const std::vector<uint64_t>& values) {
    if (values.empty()) return;
    ProtobufWriter body;
    for (uint64_t v : values) body.varint(v);
    bytes(field, body.out_);
  }

  const std::string& data() const { return out_; }

 private:
  static constexpr uint32_t kVarint = 0, kLengthDelimited = 2;
  void key(uint32_t field, uint32_t wire_type) { varint((static_cast<uint64_t>(field) << 3) | wire_type); }
  void varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  std::string out_;
};

}  // namespace perfbpf
