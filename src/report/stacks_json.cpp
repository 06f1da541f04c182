#include "report/stacks_json.h"

#include <string>

namespace perfbpf {

using Reader = JsonReader;
using nlohmann::json;

namespace {

json frame_json(const StackFrame& f) {
  return {{"name", f.name}, {"object", f.object}, {"kernel", f.kernel}, {"source", f.source}};
}

json stack_json(const StackCount& st) {
  return {{"tgid", st.tgid}, {"tid", st.tid}, {"frames", st.frames}, {"count", st.count}};
}

json top_json(const FunctionShare& t) {
  return {{"name", t.name}, {"source", t.source}, {"self", t.self}, {"total", t.total}, {"self_pct", t.self_pct},
          {"total_pct", t.total_pct}};
}

// Everything but the three tables, which can hold millions of entries.
json stacks_head_json(const StackProfile& s) {
  json processes = json::object();
  for (const auto& [tgid, comm] : s.processes) processes[std::to_string(tgid)] = comm;
  return {{"unit", s.unit}, {"frequency_hz", s.frequency_hz}, {"event", s.event}, {"call_graph", s.call_graph},
          {"samples", s.samples}, {"truncated_samples", s.truncated_samples},
          {"probe_samples", s.probe_samples}, {"lost", s.lost},
          {"lost_by_reason", s.lost_by_reason}, {"coverage_pct", s.coverage_pct},
          {"shallow_user_pct", s.shallow_user_pct}, {"processes", processes}, {"build_ids", s.build_ids}};
}

template <typename T>
json array_of(const std::vector<T>& items, json (*make)(const T&)) {
  json out = json::array();
  for (const auto& item : items) out.push_back(make(item));
  return out;
}

template <typename T>
JsonMemberWriter streamed(const std::vector<T>& items, json (*make)(const T&)) {
  return [&items, make](JsonStreamWriter& w) { write_array(w, items.size(), [&](size_t i) { return make(items[i]); }); };
}

}  // namespace

json stacks_json(const StackProfile& s) {
  json out = stacks_head_json(s);
  out["top"] = array_of(s.top, top_json);
  out["frames"] = array_of(s.frames, frame_json);
  out["stacks"] = array_of(s.stacks, stack_json);
  return out;
}

void write_stacks_json(JsonStreamWriter& w, const StackProfile& s) {
  write_object(w, stacks_head_json(s),
               {{"top", streamed(s.top, top_json)}, {"frames", streamed(s.frames, frame_json)},
                {"stacks", streamed(s.stacks, stack_json)}});
}

StackProfile read_stacks(const Reader& r) {
  StackProfile s;
  s.enabled = true;
  s.unit = r.str("unit");
  s.frequency_hz = static_cast<unsigned>(r.u64("frequency_hz"));
  if (r.has("event")) s.event = r.str("event");  // reports before it was recorded: cpu-clock
  else if (s.frequency_hz) s.event = "cpu-clock";
  s.samples = r.u64("samples");
  if (r.has("call_graph")) s.call_graph = r.str("call_graph");              // absent before CFI unwinding
  if (r.has("truncated_samples")) s.truncated_samples = r.u64("truncated_samples");
  if (r.has("probe_samples")) s.probe_samples = r.u64("probe_samples");  // absent before it was split out
  s.lost = r.u64("lost");
  s.lost_by_reason = r.counts("lost_by_reason");
  s.coverage_pct = r.num("coverage_pct");
  s.shallow_user_pct = r.num("shallow_user_pct");
  for (const auto& [tgid, comm] : r.field("processes", json::value_t::object).items()) {
    const std::string where = r.path("processes") + "." + tgid;
    if (tgid.empty() || tgid.size() > 10 || tgid.find_first_not_of("0123456789") != std::string::npos ||
        std::stoull(tgid) > UINT32_MAX)
      Reader::fail(where, "should be keyed by a pid");
    if (!comm.is_string()) Reader::fail(where, "should be a string");
    s.processes[static_cast<uint32_t>(std::stoull(tgid))] = comm.get<std::string>();
  }
  const json& frames = r.array("frames");
  for (size_t i = 0; i < frames.size(); i++) {
    Reader f(frames[i], r.path("frames") + "[" + std::to_string(i) + "]");
    s.frames.push_back({f.str("name"), f.str("object"), f.boolean("kernel"), f.str("source")});
  }
  const json& stacks = r.array("stacks");
  for (size_t i = 0; i < stacks.size(); i++) {
    Reader st(stacks[i], r.path("stacks") + "[" + std::to_string(i) + "]");
    StackCount c;
    c.tgid = static_cast<uint32_t>(st.u64("tgid"));
    c.tid = static_cast<uint32_t>(st.u64("tid"));
    c.count = st.u64("count");
    for (const auto& idx : st.array("frames")) {
      if (!idx.is_number_unsigned() || idx.get<uint64_t>() >= s.frames.size())
        Reader::fail(st.path("frames"), "has an index outside the frame table");
      c.frames.push_back(idx.get<uint32_t>());
    }
    s.stacks.push_back(std::move(c));
  }
  const json& top = r.array("top");
  for (size_t i = 0; i < top.size(); i++) {
    Reader t(top[i], r.path("top") + "[" + std::to_string(i) + "]");
    s.top.push_back({t.str("name"), t.str("source"), t.u64("self"), t.u64("total"), t.num("self_pct"), t.num("total_pct")});
  }
  if (r.has("build_ids"))  // absent in reports from before pprof mappings
    for (const auto& [object, id] : r.field("build_ids", json::value_t::object).items()) {
      if (!id.is_string()) Reader::fail(r.path("build_ids") + "." + object, "should be a string");
      s.build_ids[object] = id.get<std::string>();
    }
  return s;
}

}  // namespace perfbpf
