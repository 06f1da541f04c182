#include "report/decomposition_json.h"

namespace perfbpf {

using nlohmann::json;

namespace {

json part_json(const SplitPart& p) { return {{"mean", p.mean}, {"p50", p.p50}, {"p99", p.p99}, {"total", p.total}}; }

json split_json(const CallDecomposition& d) {
  return {{"calls", d.calls},           {"incomplete", d.incomplete}, {"on_cpu", part_json(d.on_cpu)},
          {"runqueue", part_json(d.runqueue)}, {"io", part_json(d.io)}, {"lock", part_json(d.lock)},
          {"sleep", part_json(d.sleep)}};
}

}  // namespace

void add_split_counters_json(const EventStats& e, json& events) {
  if (!e.split_by_reason.empty()) events["split_by_reason"] = e.split_by_reason;
}

void add_decomposition_json(const FunctionProfile& f, json& out) {
  if (f.decomposition.calls == 0) return;
  json d = split_json(f.decomposition);
  d["p99_calls"] = split_json(f.decomposition_p99);
  out["decomposition_ns"] = std::move(d);
  json slow = json::array();
  for (const SlowCall& s : f.slowest_calls) {
    json c = {{"start_ns", s.start_ns}, {"t_s", s.t_s},       {"tgid", s.tgid}, {"tid", s.tid},
              {"duration_ns", s.duration_ns}, {"on_cpu", s.on_cpu}, {"runqueue", s.runqueue},
              {"io", s.io},             {"lock", s.lock},     {"sleep", s.sleep}, {"incomplete", s.incomplete}};
    if (!s.wait_kind.empty()) {
      json stack = json::array();
      for (const auto& fr : s.wait_stack) stack.push_back({{"name", fr.name}, {"object", fr.object}});
      json w = {{"kind", s.wait_kind}, {"ns", s.wait_ns}, {"stack", stack}};
      if (s.holder_tid) {
        w["holder_tid"] = s.holder_tid;
        w["holder_source"] = s.holder_source;
        w["holder_function"] = s.holder_function;
        if (!s.holder_stack.empty()) {
          json holder = json::array();
          for (const auto& fr : s.holder_stack) holder.push_back({{"name", fr.name}, {"object", fr.object}});
          w["holder_stack"] = std::move(holder);
        }
      }
      c["wait"] = std::move(w);
    }
    slow.push_back(std::move(c));
  }
  out["slowest_calls"] = std::move(slow);
}

}  // namespace perfbpf
