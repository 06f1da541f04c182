// --decompose in the JSON report: a function's "decomposition_ns" (per part {mean, p50, p99,
// total} ns per call, over all its split calls and over its p99 band) and "slowest_calls".
// The reader is a template over json_report.cpp's Reader, so errors name their JSON path.
#pragma once

#include <nlohmann/json.hpp>

#include "perfbpf/profile.h"

namespace perfbpf {

// Adds the two keys to OUT when F was decomposed (nothing otherwise: older shape unchanged).
void add_decomposition_json(const FunctionProfile& f, nlohmann::json& out);

// The report's "events" object EVENTS gets "split_by_reason" when the session split calls.
void add_split_counters_json(const EventStats& e, nlohmann::json& events);

template <class Reader>
void read_split_counters(const Reader& events, EventStats& e) {
  if (events.has("split_by_reason")) e.split_by_reason = events.counts("split_by_reason");
}

namespace decomposition_detail {

template <class Reader>
SplitPart read_part(const Reader& r) {
  return {r.num("mean"), r.u64("p50"), r.u64("p99"), r.u64("total")};
}

template <class Reader>
CallDecomposition read_split(const Reader& r) {
  CallDecomposition d;
  d.calls = r.u64("calls");
  d.incomplete = r.u64("incomplete");
  d.on_cpu = read_part(r.object("on_cpu"));
  d.runqueue = read_part(r.object("runqueue"));
  d.io = read_part(r.object("io"));
  d.lock = read_part(r.object("lock"));
  d.sleep = read_part(r.object("sleep"));
  return d;
}

}  // namespace decomposition_detail

template <class Reader>
void read_decomposition(const Reader& r, FunctionProfile& f) {
  using namespace decomposition_detail;
  if (r.has("decomposition_ns")) {
    Reader d = r.object("decomposition_ns");
    f.decomposition = read_split(d);
    f.decomposition_p99 = read_split(d.object("p99_calls"));
  }
  if (!r.has("slowest_calls")) return;
  for (size_t i = 0; i < r.array("slowest_calls").size(); i++) {
    Reader c = r.item("slowest_calls", i);
    SlowCall s;
    s.start_ns = c.u64("start_ns");
    s.t_s = c.num("t_s");
    s.tgid = static_cast<uint32_t>(c.u64("tgid"));
    s.tid = static_cast<uint32_t>(c.u64("tid"));
    s.duration_ns = c.u64("duration_ns");
    s.on_cpu = c.u64("on_cpu");
    s.runqueue = c.u64("runqueue");
    s.io = c.u64("io");
    s.lock = c.u64("lock");
    s.sleep = c.u64("sleep");
    s.incomplete = c.boolean("incomplete");
    if (c.has("wait")) {
      Reader w = c.object("wait");
      s.wait_kind = w.str("kind");
      s.wait_ns = w.u64("ns");
      for (size_t k = 0; k < w.array("stack").size(); k++) {
        Reader fr = w.item("stack", k);
        s.wait_stack.push_back({fr.str("name"), fr.str("object")});
      }
      if (w.has("holder_tid")) {
        s.holder_tid = static_cast<uint32_t>(w.u64("holder_tid"));
        s.holder_source = w.str("holder_source");
        s.holder_function = w.str("holder_function");
        if (w.has("holder_stack"))
          for (size_t k = 0; k < w.array("holder_stack").size(); k++) {
            Reader fr = w.item("holder_stack", k);
            s.holder_stack.push_back({fr.str("name"), fr.str("object")});
          }
      }
    }
    f.slowest_calls.push_back(std::move(s));
  }
}

}  // namespace perfbpf
