#include "report/speedscope.h"

#include <map>
#include <tuple>

#include <nlohmann/json.hpp>

namespace perfbpf {

using nlohmann::json;

std::string speedscope_json(const Profile& profile) {
  json frames = json::array(), profiles = json::array();
  std::map<std::tuple<std::string, bool, std::string>, size_t> frame_ids;
  auto frame_id = [&](const StackFrame& f) {
    auto [it, added] = frame_ids.try_emplace(std::make_tuple(f.name, f.kernel, f.source), frames.size());
    if (added) {
      json j = {{"name", f.kernel && f.object == "[kernel]" ? f.name + " [k]" : f.name}};
      size_t colon = f.source.rfind(':');
      if (colon != std::string::npos) {
        j["file"] = f.source.substr(0, colon);
        try {
          j["line"] = std::stoul(f.source.substr(colon + 1));
        } catch (const std::exception&) {
          j["file"] = f.source;
        }
      } else if (!f.source.empty()) {
        j["file"] = f.source;
      } else if (!f.object.empty()) {
        j["file"] = f.object;
      }
      frames.push_back(std::move(j));
    }
    return it->second;
  };
  auto add = [&](const StackProfile& stacks, const char* kind, const char* unit) {
    std::map<uint32_t, json> samples, weights;  // per process, by tgid
    std::map<uint32_t, uint64_t> totals;
    for (const StackCount& s : stacks.stacks) {
      json stack = json::array();
      for (uint32_t idx : s.frames) stack.push_back(frame_id(stacks.frames[idx]));
      samples[s.tgid].push_back(std::move(stack));
      weights[s.tgid].push_back(s.count);
      totals[s.tgid] += s.count;
    }
    for (auto& [tgid, list] : samples) {
      auto comm = stacks.processes.find(tgid);
      std::string name = (comm != stacks.processes.end() ? comm->second : "pid") + " (" + std::to_string(tgid) + "): " + kind;
      profiles.push_back({{"type", "sampled"},
                          {"name", name},
                          {"unit", unit},
                          {"startValue", 0},
                          {"endValue", totals[tgid]},
                          {"samples", std::move(list)},
                          {"weights", std::move(weights[tgid])}});
    }
  };
  if (profile.stacks.enabled) add(profile.stacks, "on-CPU samples", "none");
  if (profile.off_cpu.enabled) add(profile.off_cpu, "off-CPU time", "nanoseconds");
  std::string name = "perfbpf " + profile.session.mode;
  if (!profile.session.command.empty()) name += ": " + profile.session.command[0];
  else if (profile.session.pid) name += " " + std::to_string(profile.session.pid);
  json file = {{"$schema", "https://www.speedscope.app/file-format-schema.json"},
               {"shared", {{"frames", std::move(frames)}}},
               {"profiles", std::move(profiles)},
               {"name", name},
               {"activeProfileIndex", 0},
               {"exporter", "perfbpf " + profile.tool_version}};
  return file.dump() + "\n";
}

}  // namespace perfbpf
