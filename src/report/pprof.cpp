#include "report/pprof.h"

#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "perfbpf/error.h"
#include "report/gzip.h"
#include "report/protobuf_writer.h"
#include "session/system_info.h"

namespace perfbpf {
namespace {

// profile.proto field numbers.
namespace field {
constexpr uint32_t kSampleType = 1, kSample = 2, kMapping = 3, kLocation = 4, kFunction = 5, kStringTable = 6,
                   kTimeNanos = 9, kDurationNanos = 10, kPeriodType = 11, kPeriod = 12, kComment = 13,
                   kDefaultSampleType = 14;
}  // namespace field

class StringTable {
 public:
  StringTable() { index(""); }  // string_table[0] must be ""
  int64_t index(const std::string& s) {
    auto [it, added] = ids_.try_emplace(s, static_cast<int64_t>(strings_.size()));
    if (added) strings_.push_back(s);
    return it->second;
  }
  const std::vector<std::string>& strings() const { return strings_; }

 private:
  std::map<std::string, int64_t> ids_;
  std::vector<std::string> strings_;
};

ProtobufWriter value_type(StringTable& strings, const std::string& type, const std::string& unit) {
  ProtobufWriter v;
  v.int64(1, strings.index(type));
  v.int64(2, strings.index(unit));
  return v;
}

// "src/server.c:42" -> ("src/server.c", 42); no line -> (source, 0).
std::pair<std::string, int64_t> split_source(const std::string& source) {
  size_t colon = source.rfind(':');
  if (colon == std::string::npos || colon + 1 == source.size()) return {source, 0};
  for (size_t i = colon + 1; i < source.size(); i++)
    if (!isdigit(static_cast<unsigned char>(source[i]))) return {source, 0};
  return {source.substr(0, colon), std::stoll(source.substr(colon + 1))};
}

class Builder {
 public:
  explicit Builder(const Profile& p) : profile_(p) {}

  std::string build() {
    ProtobufWriter out;
    // pprof names a profile after its first mapping ("File:"): the main executable, taken to
    // be the file outside any shared library that the most samples pass through.
    std::map<std::string, uint64_t> weight;
    std::map<std::string, const StackFrame*> example;
    for (const StackProfile* stacks : {&profile_.stacks, &profile_.off_cpu})
      for (const StackCount& s : stacks->stacks) {
        std::set<std::string> objects;
        for (uint32_t idx : s.frames) {
          const StackFrame& f = stacks->frames[idx];
          if (!f.kernel && !f.object.empty() && f.object[0] == '/' && f.object.find(".so") == std::string::npos &&
              objects.insert(f.object).second) {
            weight[f.object] += stacks == &profile_.stacks ? s.count : 0;
            example[f.object] = &f;
          }
        }
      }
    const StackFrame* main_file = nullptr;
    uint64_t best = 0;
    for (const auto& [object, w] : weight)
      if (!main_file || w > best) main_file = example[object], best = w;
    if (main_file) mapping(*main_file);
    out.message(field::kSampleType, value_type(strings_, "samples", "count"));
    out.message(field::kSampleType, value_type(strings_, "off_cpu", "nanoseconds"));
    if (profile_.stacks.enabled) add_samples(out, profile_.stacks, 0);
    if (profile_.off_cpu.enabled) add_samples(out, profile_.off_cpu, 1);
    for (const auto& m : mappings_) out.message(field::kMapping, m);
    for (const auto& l : locations_) out.message(field::kLocation, l);
    for (const auto& f : functions_) out.message(field::kFunction, f);
    int64_t start_ns = 0;
    if (rfc3339_to_unix_ns(profile_.session.start, start_ns)) out.int64(field::kTimeNanos, start_ns);
    out.int64(field::kDurationNanos, std::llround(profile_.session.duration_s * 1e9));
    out.message(field::kPeriodType, value_type(strings_, "cpu", "nanoseconds"));
    if (profile_.stacks.frequency_hz) out.int64(field::kPeriod, std::llround(1e9 / profile_.stacks.frequency_hz));
    std::vector<uint64_t> comments;
    comments.push_back(static_cast<uint64_t>(strings_.index("perfbpf " + profile_.tool_version)));
    std::string target = profile_.session.mode;
    if (profile_.session.pid) target += fmt::format(" pid {}", profile_.session.pid);
    if (!profile_.session.command.empty()) target += " command " + profile_.session.command[0];
    comments.push_back(static_cast<uint64_t>(strings_.index(target + " on " + profile_.session.hostname)));
    out.packed(field::kComment, comments);
    out.int64(field::kDefaultSampleType, strings_.index(profile_.stacks.enabled ? "samples" : "off_cpu"));
    // The string table last: every index above is known by now.
    for (const auto& s : strings_.strings()) out.bytes(field::kStringTable, s);
    return out.data();
  }

 private:
  uint64_t mapping(const StackFrame& f) {
    std::string file = f.kernel && f.object == "[kernel]" ? "[kernel.kallsyms]" : f.object;
    if (file.empty()) return 0;
    auto [it, added] = mapping_ids_.try_emplace(file, mappings_.size() + 1);
    if (added) {
      ProtobufWriter m;
      m.uint(1, it->second);
      m.int64(5, strings_.index(file));
      for (const StackProfile* sp : {&profile_.stacks, &profile_.off_cpu})
        if (auto id = sp->build_ids.find(f.object); id != sp->build_ids.end()) {
          m.int64(6, strings_.index(id->second));
          break;
        }
      m.boolean(7, true);  // has_functions: symbolized already
      m.boolean(8, !f.source.empty());
      m.boolean(9, !f.source.empty());
      mappings_.push_back(m);
    }
    return it->second;
  }

  uint64_t function(const StackFrame& f) {
    auto [file, line] = split_source(f.source);
    auto key = std::make_tuple(f.name, file, line);
    auto [it, added] = function_ids_.try_emplace(key, functions_.size() + 1);
    if (added) {
      ProtobufWriter fn;
      fn.uint(1, it->second);
      fn.int64(2, strings_.index(f.name));
      fn.int64(3, strings_.index(f.name));
      fn.int64(4, strings_.index(file));
      fn.int64(5, line);
      functions_.push_back(fn);
    }
    return it->second;
  }

  uint64_t location(const StackFrame& f) {
    auto key = std::make_tuple(f.name, f.object, f.kernel, f.source);
    auto [it, added] = location_ids_.try_emplace(key, locations_.size() + 1);
    if (added) {
      ProtobufWriter loc, line;
      loc.uint(1, it->second);
      loc.uint(2, mapping(f));
      line.uint(1, function(f));
      line.int64(2, split_source(f.source).second);
      loc.message(4, line);
      locations_.push_back(loc);
    }
    return it->second;
  }

  // VALUE_INDEX: which sample type this profile's counts are (0 samples, 1 off-CPU ns).
  void add_samples(ProtobufWriter& out, const StackProfile& stacks, size_t value_index) {
    for (const StackCount& s : stacks.stacks) {
      std::vector<uint64_t> ids;  // leaf first, as pprof wants
      for (auto it = s.frames.rbegin(); it != s.frames.rend(); ++it) ids.push_back(location(stacks.frames[*it]));
      // No frame captured: a location saying so (tools drop samples without any).
      static const StackFrame kNoStack{"[no stack captured]", "", false, ""};
      if (ids.empty()) ids.push_back(location(kNoStack));
      std::vector<uint64_t> values(2, 0);
      values[value_index] = s.count;
      ProtobufWriter sample;
      sample.packed(1, ids);
      // Packed int64 with one zero: written explicitly, as packed() keeps zeros.
      sample.packed(2, values);
      sample.message(3, label_num("pid", s.tgid));
      sample.message(3, label_num("tid", s.tid));
      auto comm = stacks.processes.find(s.tgid);
      if (comm != stacks.processes.end()) {
        ProtobufWriter l;
        l.int64(1, strings_.index("comm"));
        l.int64(2, strings_.index(comm->second));
        sample.message(3, l);
      }
      out.message(field::kSample, sample);
    }
  }

  ProtobufWriter label_num(const std::string& key, uint64_t value) {
    ProtobufWriter l;
    l.int64(1, strings_.index(key));
    l.int64(3, static_cast<int64_t>(value));
    return l;
  }

  const Profile& profile_;
  StringTable strings_;
  std::vector<ProtobufWriter> mappings_, locations_, functions_;
  std::map<std::string, uint64_t> mapping_ids_;
  std::map<std::tuple<std::string, std::string, int64_t>, uint64_t> function_ids_;
  std::map<std::tuple<std::string, std::string, bool, std::string>, uint64_t> location_ids_;
};

}  // namespace

std::string pprof_profile_uncompressed(const Profile& profile) { return Builder(profile).build(); }

std::string pprof_profile(const Profile& profile) { return gzip(pprof_profile_uncompressed(profile)); }

}  // namespace perfbpf
