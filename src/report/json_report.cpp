#include "report/json_report.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sys/stat.h>

#include "perfbpf/error.h"

namespace perfbpf {

using nlohmann::json;

namespace {

json latency_json(const LatencySummary& l) {
  return {{"min", l.min}, {"max", l.max}, {"mean", l.mean}, {"stddev", l.stddev}, {"p50", l.p50},
          {"p90", l.p90}, {"p99", l.p99}, {"p999", l.p999}, {"total", l.total}};
}

json function_json(const FunctionProfile& f) {
  json bounds = json::array(), counts = json::array();
  for (const auto& b : f.histogram) {
    bounds.push_back(b.upper_ns);
    counts.push_back(b.count);
  }
  json threads = json::array();
  for (const auto& t : f.threads)
    threads.push_back({{"tid", t.tid}, {"tgid", t.tgid}, {"calls", t.calls}, {"total_ns", t.total_ns}});
  return {{"name", f.name},
          {"demangled", f.demangled},
          {"object", f.object},
          {"address", f.address},
          {"file_offset", f.file_offset},
          {"calls", f.calls},
          {"in_flight", f.in_flight},
          {"latency_ns", latency_json(f.latency)},
          {"latency_raw_ns", latency_json(f.latency_raw)},
          {"probe",
           {{"site", f.probe_site}, {"offset", f.probe_offset}, {"bias_ns", f.bias_ns}, {"cost_ns", f.probe_cost_ns}}},
          {"overhead_pct", f.overhead_pct},
          {"histogram",
           {{"scheme", "log-linear"},
            {"sub_buckets", LatencyHistogram::kSubBuckets},
            {"bounds_ns", bounds},
            {"counts", counts}}},
          {"threads", threads}};
}

// Reads fields with the JSON path of each in every error, so a malformed report says where.
class Reader {
 public:
  Reader(const json& j, std::string path) : j_(j), path_(std::move(path)) {}

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
  Reader object(const std::string& key) const {
    field(key, json::value_t::object);
    return Reader(j_.at(key), path_.empty() ? key : path_ + "." + key);
  }
  const json& array(const std::string& key) const { return field(key, json::value_t::array); }
  std::string path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  [[noreturn]] static void fail(const std::string& where, const std::string& what) {
    throw Error("malformed report: " + where + " " + what, "was it written by perfbpf?", EINVAL);
  }

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

LatencySummary read_latency(const Reader& r) {
  LatencySummary l;
  l.min = r.u64("min");
  l.max = r.u64("max");
  l.mean = r.num("mean");
  l.stddev = r.num("stddev");
  l.p50 = r.u64("p50");
  l.p90 = r.u64("p90");
  l.p99 = r.u64("p99");
  l.p999 = r.u64("p999");
  l.total = r.u64("total");
  return l;
}

FunctionProfile read_function(const Reader& r) {
  FunctionProfile f;
  f.name = r.str("name");
  f.demangled = r.str("demangled");
  f.object = r.str("object");
  f.address = r.u64("address");
  f.file_offset = r.u64("file_offset");
  f.calls = r.u64("calls");
  f.in_flight = r.u64("in_flight");
  f.latency = read_latency(r.object("latency_ns"));
  f.latency_raw = read_latency(r.object("latency_raw_ns"));
  Reader probe = r.object("probe");
  f.probe_site = probe.str("site");
  f.probe_offset = probe.u64("offset");
  f.bias_ns = probe.num("bias_ns");
  f.probe_cost_ns = probe.num("cost_ns");
  f.overhead_pct = r.num("overhead_pct");
  Reader h = r.object("histogram");
  const json& bounds = h.array("bounds_ns");
  const json& counts = h.array("counts");
  if (bounds.size() != counts.size())
    Reader::fail(r.path("histogram"), "has " + std::to_string(bounds.size()) + " bounds_ns but " +
                                          std::to_string(counts.size()) + " counts");
  for (size_t i = 0; i < bounds.size(); i++) {
    if (!bounds[i].is_number_unsigned() || !counts[i].is_number_unsigned())
      Reader::fail(r.path("histogram"), "entry " + std::to_string(i) + " is not a non-negative integer");
    f.histogram.push_back({bounds[i].get<uint64_t>(), counts[i].get<uint64_t>()});
  }
  const json& threads = r.array("threads");
  for (size_t i = 0; i < threads.size(); i++) {
    Reader t(threads[i], r.path("threads") + "[" + std::to_string(i) + "]");
    f.threads.push_back({static_cast<uint32_t>(t.u64("tid")), static_cast<uint32_t>(t.u64("tgid")), t.u64("calls"),
                         t.u64("total_ns")});
  }
  return f;
}

CalibrationInfo read_calibration(const Reader& r) {
  CalibrationInfo c;
  c.method = r.str("method");
  c.cpu_model = r.str("cpu_model");
  c.measured_at = r.str("measured_at");
  c.from_cache = r.boolean("from_cache");
  c.bpf_ns_per_run = r.num("bpf_ns_per_run");
  const json& sites = r.array("sites");
  for (size_t i = 0; i < sites.size(); i++) {
    Reader s(sites[i], r.path("sites") + "[" + std::to_string(i) + "]");
    c.sites.push_back({s.str("kind"), s.num("bias_ns"), s.num("bias_spread_ns"), s.num("bias_uncertainty_ns"),
                       s.num("cost_ns"), s.u64("samples")});
  }
  return c;
}

json stacks_json(const StackProfile& s) {
  json frames = json::array(), stacks = json::array(), top = json::array(), processes = json::object();
  for (const auto& f : s.frames)
    frames.push_back({{"name", f.name}, {"object", f.object}, {"kernel", f.kernel}, {"source", f.source}});
  for (const auto& st : s.stacks)
    stacks.push_back({{"tgid", st.tgid}, {"tid", st.tid}, {"frames", st.frames}, {"count", st.count}});
  for (const auto& t : s.top)
    top.push_back({{"name", t.name}, {"source", t.source}, {"self", t.self}, {"total", t.total}, {"self_pct", t.self_pct},
                   {"total_pct", t.total_pct}});
  for (const auto& [tgid, comm] : s.processes) processes[std::to_string(tgid)] = comm;
  return {{"unit", s.unit}, {"frequency_hz", s.frequency_hz}, {"samples", s.samples}, {"lost", s.lost},
          {"lost_by_reason", s.lost_by_reason}, {"coverage_pct", s.coverage_pct},
          {"shallow_user_pct", s.shallow_user_pct}, {"processes", processes},
          {"top", top}, {"frames", frames}, {"stacks", stacks}};
}

StackProfile read_stacks(const Reader& r) {
  StackProfile s;
  s.enabled = true;
  s.unit = r.str("unit");
  s.frequency_hz = static_cast<unsigned>(r.u64("frequency_hz"));
  s.samples = r.u64("samples");
  s.lost = r.u64("lost");
  for (const auto& [reason, n] : r.field("lost_by_reason", json::value_t::object).items())
    s.lost_by_reason[reason] = n.get<uint64_t>();
  s.coverage_pct = r.num("coverage_pct");
  s.shallow_user_pct = r.num("shallow_user_pct");
  for (const auto& [tgid, comm] : r.field("processes", json::value_t::object).items())
    s.processes[static_cast<uint32_t>(std::stoul(tgid))] = comm.get<std::string>();
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
  return s;
}

json overhead_json(const OverheadInfo& o) {
  return {{"target_slowdown_pct", o.target_slowdown_pct}, {"budget_pct", o.budget_pct},
          {"perfbpf_cpu_s", o.perfbpf_cpu_s},           {"perfbpf_peak_rss_bytes", o.perfbpf_peak_rss_bytes},
          {"bpf_stats", o.bpf_stats},                   {"bpf_run_time_ns", o.bpf_run_time_ns},
          {"bpf_run_count", o.bpf_run_count},
          {"completeness_pct", o.completeness_pct}};
}

OverheadInfo read_overhead(const Reader& r) {
  OverheadInfo o;
  o.target_slowdown_pct = r.num("target_slowdown_pct");
  o.budget_pct = r.num("budget_pct");
  o.perfbpf_cpu_s = r.num("perfbpf_cpu_s");
  o.perfbpf_peak_rss_bytes = r.u64("perfbpf_peak_rss_bytes");
  o.bpf_stats = r.str("bpf_stats");
  o.bpf_run_time_ns = r.u64("bpf_run_time_ns");
  o.bpf_run_count = r.u64("bpf_run_count");
  o.completeness_pct = r.num("completeness_pct");
  return o;
}

[[noreturn]] void throw_unwritable(const std::string& path, int err) {
  throw Error(errno_message("cannot write report to " + path, err), "choose a writable path with -o", err);
}

}  // namespace

json calibration_to_json(const CalibrationInfo& c) {
  json sites = json::array();
  for (const auto& s : c.sites)
    sites.push_back({{"kind", s.kind}, {"bias_ns", s.bias_ns}, {"bias_spread_ns", s.bias_spread_ns},
                     {"bias_uncertainty_ns", s.bias_uncertainty_ns}, {"cost_ns", s.cost_ns}, {"samples", s.samples}});
  return {{"method", c.method}, {"cpu_model", c.cpu_model}, {"measured_at", c.measured_at},
          {"from_cache", c.from_cache}, {"sites", sites}, {"bpf_ns_per_run", c.bpf_ns_per_run}};
}

CalibrationInfo calibration_from_json(const nlohmann::json& j) { return read_calibration(Reader(j, "calibration")); }

json to_json(const Profile& p) {
  const SessionInfo& s = p.session;
  json functions = json::array();
  for (const auto& f : p.functions) functions.push_back(function_json(f));
  return {{"schema", p.schema},
          {"tool", {{"name", "perfbpf"}, {"version", p.tool_version}}},
          {"session",
           {{"mode", s.mode},
            {"pid", s.pid},
            {"command", s.command},
            {"follow_children", s.follow_children},
            {"start", s.start},
            {"start_monotonic_ns", s.start_monotonic_ns},
            {"duration_s", s.duration_s},
            {"kernel", s.kernel},
            {"hostname", s.hostname},
            {"end_reason", s.end_reason},
            {"exit_code", s.exit_code}}},
          {"functions", functions},
          {"events", {{"received", p.events.received}, {"lost", p.events.lost}, {"lost_by_reason", p.events.lost_by_reason}}},
          {"calibration", calibration_to_json(p.calibration)},
          {"overhead", overhead_json(p.overhead)},
          {"stacks", p.stacks.enabled ? stacks_json(p.stacks) : json(nullptr)},
          {"off_cpu", p.off_cpu.enabled ? stacks_json(p.off_cpu) : json(nullptr)}};
}

Profile profile_from_json(const json& report) {
  Reader root(report, "");
  Profile p;
  p.schema = root.str("schema");
  if (p.schema != kReportSchema)
    throw Error("unsupported report schema '" + p.schema + "'",
                std::string("this perfbpf reads ") + kReportSchema, EINVAL);
  p.tool_version = root.object("tool").str("version");
  Reader s = root.object("session");
  p.session.mode = s.str("mode");
  p.session.pid = s.i64("pid");
  const json& command = s.array("command");
  for (size_t i = 0; i < command.size(); i++) {
    if (!command[i].is_string()) Reader::fail("session.command[" + std::to_string(i) + "]", "should be a string");
    p.session.command.push_back(command[i].get<std::string>());
  }
  p.session.follow_children = s.boolean("follow_children");
  p.session.start = s.str("start");
  p.session.start_monotonic_ns = s.u64("start_monotonic_ns");
  p.session.duration_s = s.num("duration_s");
  p.session.kernel = s.str("kernel");
  p.session.hostname = s.str("hostname");
  p.session.end_reason = s.str("end_reason");
  p.session.exit_code = s.i64("exit_code");
  const json& functions = root.array("functions");
  for (size_t i = 0; i < functions.size(); i++)
    p.functions.push_back(read_function(Reader(functions[i], "functions[" + std::to_string(i) + "]")));
  Reader e = root.object("events");
  p.events.received = e.u64("received");
  p.events.lost = e.u64("lost");
  const json& reasons = e.field("lost_by_reason", json::value_t::object);
  for (const auto& [reason, n] : reasons.items()) {
    if (!n.is_number_unsigned()) Reader::fail("events.lost_by_reason." + reason, "should be a non-negative integer");
    p.events.lost_by_reason[reason] = n.get<uint64_t>();
  }
  p.calibration = read_calibration(root.object("calibration"));
  p.overhead = read_overhead(root.object("overhead"));
  if (report.contains("stacks") && !report["stacks"].is_null()) p.stacks = read_stacks(root.object("stacks"));
  if (report.contains("off_cpu") && !report["off_cpu"].is_null()) p.off_cpu = read_stacks(root.object("off_cpu"));
  return p;
}

void check_output_writable(const std::string& path) {
  if (path == "-") return;
  std::filesystem::path p(path);
  std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) throw_unwritable(path, EISDIR);
    if (access(path.c_str(), W_OK) != 0) throw_unwritable(path, errno);
    return;
  }
  if (stat(dir.c_str(), &st) != 0) throw_unwritable(path, errno);
  if (!S_ISDIR(st.st_mode)) throw_unwritable(path, ENOTDIR);
  if (access(dir.c_str(), W_OK) != 0) throw_unwritable(path, errno);
}

void write_json_report(const Profile& profile, const std::string& path) {
  std::string text = to_json(profile).dump(2) + "\n";
  if (path == "-") {
    std::cout << text << std::flush;
    return;
  }
  check_output_writable(path);
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) throw_unwritable(path, errno ? errno : EIO);
    out << text;
    out.close();
    if (!out) {
      int err = errno ? errno : EIO;
      std::remove(tmp.c_str());
      throw_unwritable(path, err);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    throw_unwritable(path, err);
  }
}

Profile read_json_report(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(errno_message("cannot read report " + path, errno), "check the path", errno);
  json j;
  try {
    j = json::parse(in);
  } catch (const json::parse_error& e) {
    throw Error(path + " is not valid JSON: " + e.what(), "was it written by perfbpf -o?", EINVAL);
  }
  return profile_from_json(j);
}

}  // namespace perfbpf
