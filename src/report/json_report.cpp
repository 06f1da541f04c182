#include "report/json_report.h"

#include <cerrno>
#include <iostream>

#include "perfbpf/error.h"
#include "report/decomposition_json.h"
#include "report/json_reader.h"
#include "report/json_stream.h"
#include "report/output_file.h"
#include "report/stacks_json.h"
#include "util/json_file.h"

namespace perfbpf {

using Reader = JsonReader;

using nlohmann::json;

namespace {

json latency_json(const LatencySummary& l) {
  return {{"min", l.min}, {"max", l.max}, {"mean", l.mean}, {"stddev", l.stddev}, {"p50", l.p50},
          {"p90", l.p90}, {"p99", l.p99}, {"p999", l.p999}, {"total", l.total}};
}

// Non-empty buckets as two parallel arrays: the shape every histogram in the report shares.
json histogram_json(const std::vector<HistogramBucket>& buckets) {
  json bounds = json::array(), counts = json::array();
  for (const auto& b : buckets) {
    bounds.push_back(b.upper_ns);
    counts.push_back(b.count);
  }
  return {{"scheme", "log-linear"},
          {"sub_buckets", LatencyHistogram::kSubBuckets},
          {"bounds_ns", bounds},
          {"counts", counts}};
}

json function_json(const FunctionProfile& f) {
  json threads = json::array(), series = json::array();
  for (const auto& t : f.threads)
    threads.push_back({{"tid", t.tid}, {"tgid", t.tgid}, {"calls", t.calls}, {"total_ns", t.total_ns}});
  for (const auto& i : f.series)
    series.push_back({{"t", i.t}, {"calls", i.calls}, {"p50", i.p50}, {"p99", i.p99}, {"max", i.max}});
  json out = {{"name", f.name},
          {"demangled", f.demangled},
          {"object", f.object},
          {"address", f.address},
          {"file_offset", f.file_offset},
          {"calls", f.calls},
          {"in_flight", f.in_flight},
          {"unwound", f.unwound},
          {"in_flight_at_attach", f.in_flight_at_attach},
          {"latency_ns", latency_json(f.latency)},
          {"latency_raw_ns", latency_json(f.latency_raw)},
          {"probe",
           {{"site", f.probe_site},
            {"offset", f.probe_offset},
            {"method", f.probe_method},
            {"method_reason", f.probe_method_reason},
            {"return_sites", f.return_sites},
            {"bias_ns", f.bias_ns},
            {"cost_ns", f.probe_cost_ns}}},
          {"overhead_pct", f.overhead_pct},
          {"histogram", histogram_json(f.histogram)},
          {"threads", threads},
          {"series", series}};
  if (!f.version.empty()) out["version"] = f.version;
  if (!f.implementation.empty()) out["implementation"] = {{"name", f.implementation}, {"source", f.implementation_source}};
  add_decomposition_json(f, out);
  return out;
}

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

std::vector<HistogramBucket> read_histogram(const Reader& r, const std::string& key) {
  Reader h = r.object(key);
  const json& bounds = h.array("bounds_ns");
  const json& counts = h.array("counts");
  if (bounds.size() != counts.size())
    Reader::fail(r.path(key), "has " + std::to_string(bounds.size()) + " bounds_ns but " +
                                  std::to_string(counts.size()) + " counts");
  std::vector<HistogramBucket> buckets;
  for (size_t i = 0; i < bounds.size(); i++) {
    if (!bounds[i].is_number_unsigned() || !counts[i].is_number_unsigned())
      Reader::fail(r.path(key), "entry " + std::to_string(i) + " is not a non-negative integer");
    buckets.push_back({bounds[i].get<uint64_t>(), counts[i].get<uint64_t>()});
  }
  return buckets;
}

FunctionProfile read_function(const Reader& r) {
  FunctionProfile f;
  f.name = r.str("name");
  f.demangled = r.str("demangled");
  f.object = r.str("object");
  if (r.has("version")) f.version = r.str("version");
  if (r.has("implementation")) {
    Reader impl = r.object("implementation");
    f.implementation = impl.str("name");
    f.implementation_source = impl.str("source");
  }
  f.address = r.u64("address");
  f.file_offset = r.u64("file_offset");
  f.calls = r.u64("calls");
  f.in_flight = r.u64("in_flight");
  if (r.has("unwound")) f.unwound = r.u64("unwound");  // absent before return-site probes
  if (r.has("in_flight_at_attach")) f.in_flight_at_attach = r.u64("in_flight_at_attach");
  f.latency = read_latency(r.object("latency_ns"));
  f.latency_raw = read_latency(r.object("latency_raw_ns"));
  Reader probe = r.object("probe");
  f.probe_site = probe.str("site");
  f.probe_offset = probe.u64("offset");
  if (probe.has("method")) {
    f.probe_method = probe.str("method");
    f.probe_method_reason = probe.str("method_reason");
    f.return_sites = probe.u64("return_sites");
  }
  f.bias_ns = probe.num("bias_ns");
  f.probe_cost_ns = probe.num("cost_ns");
  f.overhead_pct = r.num("overhead_pct");
  f.histogram = read_histogram(r, "histogram");
  const json& threads = r.array("threads");
  for (size_t i = 0; i < threads.size(); i++) {
    Reader t(threads[i], r.path("threads") + "[" + std::to_string(i) + "]");
    f.threads.push_back({static_cast<uint32_t>(t.u64("tid")), static_cast<uint32_t>(t.u64("tgid")), t.u64("calls"),
                         t.u64("total_ns")});
  }
  if (r.has("series"))  // absent in reports from before per-interval function latency
    for (size_t i = 0; i < r.array("series").size(); i++) {
      Reader x = r.item("series", i);
      f.series.push_back({x.num("t"), x.u64("calls"), x.u64("p50"), x.u64("p99"), x.u64("max")});
    }
  read_decomposition(r, f);
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
    SiteCalibration site;
    site.kind = s.str("kind");
    if (s.has("method")) site.method = s.str("method");
    site.bias_ns = s.num("bias_ns");
    site.bias_spread_ns = s.num("bias_spread_ns");
    site.bias_uncertainty_ns = s.num("bias_uncertainty_ns");
    site.cost_ns = s.num("cost_ns");
    site.samples = s.u64("samples");
    c.sites.push_back(site);
  }
  return c;
}

json overhead_json(const OverheadInfo& o) {
  return {{"target_slowdown_pct", o.target_slowdown_pct}, {"slowdown_at_least", o.slowdown_at_least},
          {"probe_share_pct", o.probe_share_pct},         {"budget_pct", o.budget_pct},
          {"perfbpf_cpu_s", o.perfbpf_cpu_s},           {"perfbpf_peak_rss_bytes", o.perfbpf_peak_rss_bytes},
          {"bpf_stats", o.bpf_stats},                   {"bpf_run_time_ns", o.bpf_run_time_ns},
          {"bpf_run_count", o.bpf_run_count},
          {"completeness_pct", o.completeness_pct}};
}

OverheadInfo read_overhead(const Reader& r) {
  OverheadInfo o;
  o.target_slowdown_pct = r.num("target_slowdown_pct");
  if (r.has("slowdown_at_least")) {  // absent before the per-thread estimate
    o.slowdown_at_least = r.boolean("slowdown_at_least");
    o.probe_share_pct = r.num("probe_share_pct");
  }
  o.budget_pct = r.num("budget_pct");
  o.perfbpf_cpu_s = r.num("perfbpf_cpu_s");
  o.perfbpf_peak_rss_bytes = r.u64("perfbpf_peak_rss_bytes");
  o.bpf_stats = r.str("bpf_stats");
  o.bpf_run_time_ns = r.u64("bpf_run_time_ns");
  o.bpf_run_count = r.u64("bpf_run_count");
  o.completeness_pct = r.num("completeness_pct");
  return o;
}

// ---- system: the resource collectors

json distribution_json(const LatencyDistribution& d) {
  json j = latency_json(d.summary);
  j["histogram"] = histogram_json(d.histogram);
  return j;
}

LatencyDistribution read_distribution(const Reader& r) {
  return {read_latency(r), read_histogram(r, "histogram")};
}

json disk_traffic_json(const DiskTraffic& d) {
  return {{"read_bytes", d.read_bytes}, {"write_bytes", d.write_bytes}, {"read_ios", d.read_ios},
          {"write_ios", d.write_ios}};
}

DiskTraffic read_disk_traffic(const Reader& r) {
  return {r.u64("read_bytes"), r.u64("write_bytes"), r.u64("read_ios"), r.u64("write_ios")};
}

// The same keys for the totals, each process and each thread, flattened into the object J so
// that a consumer reads processes[i].cpu_pct like totals.cpu_pct.
void put_usage(json& j, const ResourceUsage& u) {
  j["cpu_time_ns"] = u.cpu_time_ns;
  j["cpu_pct"] = u.cpu_pct;
  j["off_cpu_ns"] = {{"runqueue", u.off_cpu_ns.runqueue},
                     {"io", u.off_cpu_ns.io},
                     {"sleep", u.off_cpu_ns.sleep},
                     {"unknown", u.off_cpu_ns.unknown}};
  j["ctx_switches"] = {{"voluntary", u.ctx_switches.voluntary}, {"involuntary", u.ctx_switches.involuntary}};
  j["migrations"] = u.migrations;
  j["memory"] = {{"rss_peak_bytes", u.memory.rss_peak_bytes}, {"rss_last_bytes", u.memory.rss_last_bytes},
                 {"anon_bytes", u.memory.anon_bytes},         {"file_bytes", u.memory.file_bytes},
                 {"shmem_bytes", u.memory.shmem_bytes}};
  j["faults"] = {{"minor", u.faults.minor}, {"major", u.faults.major}};
  j["disk"] = disk_traffic_json(u.disk);
  j["net"] = {{"tx_bytes", u.net.tx_bytes},       {"rx_bytes", u.net.rx_bytes},
              {"tx_calls", u.net.tx_calls},       {"rx_calls", u.net.rx_calls},
              {"retransmits", u.net.retransmits}, {"connections", u.net.connections}};
}

ResourceUsage read_usage(const Reader& r) {
  ResourceUsage u;
  u.cpu_time_ns = r.u64("cpu_time_ns");
  u.cpu_pct = r.num("cpu_pct");
  Reader off = r.object("off_cpu_ns");
  u.off_cpu_ns = {off.u64("runqueue"), off.u64("io"), off.u64("sleep"),
                  off.has("unknown") ? off.u64("unknown") : 0};  // absent in older reports
  Reader cs = r.object("ctx_switches");
  u.ctx_switches = {cs.u64("voluntary"), cs.u64("involuntary")};
  u.migrations = r.u64("migrations");
  Reader m = r.object("memory");
  u.memory = {m.u64("rss_peak_bytes"), m.u64("rss_last_bytes"), m.u64("anon_bytes"), m.u64("file_bytes"),
              m.u64("shmem_bytes")};
  Reader f = r.object("faults");
  u.faults = {f.u64("minor"), f.u64("major")};
  u.disk = read_disk_traffic(r.object("disk"));
  Reader n = r.object("net");
  u.net = {n.u64("tx_bytes"), n.u64("rx_bytes"), n.u64("tx_calls"), n.u64("rx_calls"), n.u64("retransmits"),
           n.u64("connections")};
  return u;
}

json series_json(const SeriesSample& s) {
  return {{"t", s.t},
          {"dt", s.dt},
          {"cpu_pct", s.cpu_pct},
          {"cpu_clamped_ns", s.cpu_clamped_ns},
          {"rss_bytes", s.rss_bytes},
          {"minor_faults", s.minor_faults},
          {"major_faults", s.major_faults},
          {"disk_read_bytes", s.disk_read_bytes},
          {"disk_write_bytes", s.disk_write_bytes},
          {"disk_ios", s.disk_ios},
          {"disk_p99_ns", s.disk_p99_ns},
          {"net_tx_bytes", s.net_tx_bytes},
          {"net_rx_bytes", s.net_rx_bytes},
          {"runqueue_p99_ns", s.runqueue_p99_ns},
          {"memory_used_pct", s.memory_used_pct},
          {"machine_cpu_pct", s.machine_cpu_pct}};
}

SeriesSample read_series(const Reader& r) {
  SeriesSample s;
  s.t = r.num("t");
  s.dt = r.num("dt");
  s.cpu_pct = r.num("cpu_pct");
  if (r.has("cpu_clamped_ns")) s.cpu_clamped_ns = r.u64("cpu_clamped_ns");  // absent in older reports
  s.rss_bytes = r.u64("rss_bytes");
  s.minor_faults = r.u64("minor_faults");
  s.major_faults = r.u64("major_faults");
  s.disk_read_bytes = r.u64("disk_read_bytes");
  s.disk_write_bytes = r.u64("disk_write_bytes");
  s.disk_ios = r.u64("disk_ios");
  s.disk_p99_ns = r.u64("disk_p99_ns");
  s.net_tx_bytes = r.u64("net_tx_bytes");
  s.net_rx_bytes = r.u64("net_rx_bytes");
  s.runqueue_p99_ns = r.u64("runqueue_p99_ns");
  s.memory_used_pct = r.num("memory_used_pct");
  if (r.has("machine_cpu_pct")) s.machine_cpu_pct = r.num("machine_cpu_pct");  // absent before it was read
  return s;
}

json system_json(const SystemProfile& s) {
  json totals = json::object(), processes = json::array(), disks = json::array(), interfaces = json::array(),
       series = json::array();
  put_usage(totals, s.totals);
  for (const auto& p : s.processes) {
    json threads = json::array();
    for (const auto& t : p.threads) {
      json tj = {{"tid", t.tid}, {"comm", t.comm}};
      put_usage(tj, t.usage);
      threads.push_back(std::move(tj));
    }
    json pj = {{"pid", p.pid}, {"ppid", p.ppid}, {"comm", p.comm}, {"exited", p.exited}};
    put_usage(pj, p.usage);
    pj["threads"] = std::move(threads);
    processes.push_back(std::move(pj));
  }
  for (const auto& d : s.disks) {
    json dj = disk_traffic_json(d.traffic);
    dj["name"] = d.name;
    dj["major"] = d.major;
    dj["minor"] = d.minor;
    dj["latency_ns"] = {{"queue", distribution_json(d.queue_ns)},
                        {"service", distribution_json(d.service_ns)},
                        {"total", distribution_json(d.total_ns)}};
    disks.push_back(std::move(dj));
  }
  for (const auto& i : s.interfaces)
    interfaces.push_back({{"name", i.name}, {"rx_bytes", i.rx_bytes}, {"tx_bytes", i.tx_bytes},
                          {"rx_packets", i.rx_packets}, {"tx_packets", i.tx_packets}});
  for (const auto& x : s.series) series.push_back(series_json(x));
  json j = {{"source", s.source},
            {"scope", s.scope},
            {"collectors", s.collectors},
            {"interval_s", s.interval_s},
            {"cpus", s.cpus},
            {"memory_total_bytes", s.memory_total_bytes},
            {"memory_used_pct", {{"peak", s.memory_used_pct_peak}, {"last", s.memory_used_pct_last}}},
            {"machine_cpu_pct", {{"mean", s.machine_cpu_pct}, {"peak", s.machine_cpu_pct_peak}}},
            {"totals", totals},
            {"runqueue_latency_ns", distribution_json(s.runqueue_latency_ns)},
            {"connect_latency_ns", distribution_json(s.connect_latency_ns)},
            {"processes", processes},
            {"processes_omitted", s.processes_omitted},
            {"disks", disks},
            {"interfaces", interfaces},
            {"series", series},
            {"series_merges", s.series_merges},
            {"lost_by_reason", s.lost_by_reason}};
  if (!s.cgroup.empty()) j["cgroup"] = s.cgroup;
  return j;
}

SystemProfile read_system(const Reader& r) {
  SystemProfile s;
  s.enabled = true;
  s.source = r.str("source");
  s.scope = r.str("scope");
  if (r.has("cgroup")) s.cgroup = r.str("cgroup");
  s.collectors = r.strings("collectors");
  s.interval_s = r.num("interval_s");
  s.cpus = static_cast<unsigned>(r.u64("cpus"));
  s.memory_total_bytes = r.u64("memory_total_bytes");
  Reader used = r.object("memory_used_pct");
  s.memory_used_pct_peak = used.num("peak");
  s.memory_used_pct_last = used.num("last");
  if (r.has("machine_cpu_pct")) {  // absent before it was read
    Reader busy = r.object("machine_cpu_pct");
    s.machine_cpu_pct = busy.num("mean");
    s.machine_cpu_pct_peak = busy.num("peak");
  }
  s.totals = read_usage(r.object("totals"));
  s.runqueue_latency_ns = read_distribution(r.object("runqueue_latency_ns"));
  s.connect_latency_ns = read_distribution(r.object("connect_latency_ns"));
  for (size_t i = 0; i < r.array("processes").size(); i++) {
    Reader pr = r.item("processes", i);
    ProcessResources p;
    p.pid = static_cast<uint32_t>(pr.u64("pid"));
    p.ppid = static_cast<uint32_t>(pr.u64("ppid"));
    p.comm = pr.str("comm");
    p.exited = pr.boolean("exited");
    p.usage = read_usage(pr);
    for (size_t k = 0; k < pr.array("threads").size(); k++) {
      Reader tr = pr.item("threads", k);
      p.threads.push_back({static_cast<uint32_t>(tr.u64("tid")), tr.str("comm"), read_usage(tr)});
    }
    s.processes.push_back(std::move(p));
  }
  s.processes_omitted = r.u64("processes_omitted");
  for (size_t i = 0; i < r.array("disks").size(); i++) {
    Reader dr = r.item("disks", i);
    DiskDevice d;
    d.name = dr.str("name");
    d.major = static_cast<uint32_t>(dr.u64("major"));
    d.minor = static_cast<uint32_t>(dr.u64("minor"));
    d.traffic = read_disk_traffic(dr);
    Reader lat = dr.object("latency_ns");
    d.queue_ns = read_distribution(lat.object("queue"));
    d.service_ns = read_distribution(lat.object("service"));
    d.total_ns = read_distribution(lat.object("total"));
    s.disks.push_back(std::move(d));
  }
  for (size_t i = 0; i < r.array("interfaces").size(); i++) {
    Reader ir = r.item("interfaces", i);
    s.interfaces.push_back({ir.str("name"), ir.u64("rx_bytes"), ir.u64("tx_bytes"), ir.u64("rx_packets"),
                            ir.u64("tx_packets")});
  }
  for (size_t i = 0; i < r.array("series").size(); i++) s.series.push_back(read_series(r.item("series", i)));
  s.series_merges = r.u64("series_merges");
  s.lost_by_reason = r.counts("lost_by_reason");
  return s;
}

// ---- analysis: bottlenecks, trends, health (src/analysis/)

json analysis_json(const AnalysisSection& a) {
  json functions = json::array(), deductions = json::array(), bottlenecks = json::array(), trends = json::array(),
       recommendations = json::array(), alerts = json::array();
  for (const auto& f : a.thresholds.functions)
    functions.push_back({{"pattern", f.pattern}, {"stat", f.stat}, {"value_ns", f.value_ns}});
  for (const auto& d : a.health.deductions)
    deductions.push_back({{"bottleneck", d.bottleneck}, {"severity", d.severity}, {"points", d.points}});
  for (const auto& b : a.bottlenecks) {
    const Evidence& e = b.evidence;
    // Only what the bottleneck is in: a device has no pid, a machine-wide finding has nothing.
    json affects = json::object();
    if (!b.affects.function.empty()) affects["function"] = b.affects.function;
    if (b.affects.pid) affects["pid"] = b.affects.pid;
    if (!b.affects.comm.empty()) affects["comm"] = b.affects.comm;
    if (!b.affects.device.empty()) affects["device"] = b.affects.device;
    bottlenecks.push_back({{"id", b.id},
                           {"category", b.category},
                           {"severity", b.severity},
                           {"title", b.title},
                           {"evidence",
                            {{"metric", e.metric},
                             {"value", e.value},
                             {"threshold", e.threshold},
                             {"unit", e.unit},
                             {"data_share", e.data_share},
                             {"detail", e.detail}}},
                           {"affects", affects},
                           {"recommendations", b.recommendations}});
  }
  for (const auto& t : a.trends)
    trends.push_back({{"series", t.series}, {"unit", t.unit}, {"slope_per_s", t.slope_per_s}, {"p_value", t.p_value},
                      {"direction", t.direction}, {"samples", t.samples}});
  for (const auto& r : a.recommendations)
    recommendations.push_back({{"id", r.id}, {"text", r.text}, {"because", r.because}});
  for (const auto& x : a.alerts)
    alerts.push_back({{"t", x.t}, {"metric", x.metric}, {"subject", x.subject}, {"value", x.value},
                      {"threshold", x.threshold}, {"unit", x.unit}});
  const PerformanceThresholds& th = a.thresholds;
  return {{"thresholds",
           {{"function_time_warning", th.function_time_warning},
            {"memory_usage_warning", th.memory_usage_warning},
            {"cpu_usage_warning", th.cpu_usage_warning},
            {"process_cpu_warning", th.process_cpu_warning},
            {"functions", functions}}},
          {"health", {{"score", a.health.score}, {"grade", a.health.grade}, {"deductions", deductions}}},
          {"bottlenecks", bottlenecks},
          {"trends", trends},
          {"recommendations", recommendations},
          {"alerts", alerts}};
}

AnalysisSection read_analysis(const Reader& r) {
  AnalysisSection a;
  a.enabled = true;
  Reader th = r.object("thresholds");
  a.thresholds.function_time_warning = th.num("function_time_warning");
  a.thresholds.memory_usage_warning = th.num("memory_usage_warning");
  a.thresholds.cpu_usage_warning = th.num("cpu_usage_warning");
  if (th.has("process_cpu_warning")) a.thresholds.process_cpu_warning = th.num("process_cpu_warning");
  for (size_t i = 0; i < th.array("functions").size(); i++) {
    Reader f = th.item("functions", i);
    a.thresholds.functions.push_back({f.str("pattern"), f.str("stat"), f.num("value_ns")});
  }
  Reader h = r.object("health");
  a.health.score = h.num("score");
  a.health.grade = h.str("grade");
  for (size_t i = 0; i < h.array("deductions").size(); i++) {
    Reader d = h.item("deductions", i);
    a.health.deductions.push_back({d.str("bottleneck"), d.str("severity"), d.num("points")});
  }
  for (size_t i = 0; i < r.array("bottlenecks").size(); i++) {
    Reader br = r.item("bottlenecks", i);
    Bottleneck b;
    b.id = br.str("id");
    b.category = br.str("category");
    b.severity = br.str("severity");
    b.title = br.str("title");
    Reader e = br.object("evidence");
    b.evidence = {e.str("metric"), e.num("value"), e.num("threshold"), e.str("unit"), e.num("data_share"), e.str("detail")};
    Reader af = br.object("affects");
    if (af.has("function")) b.affects.function = af.str("function");
    if (af.has("pid")) b.affects.pid = static_cast<uint32_t>(af.u64("pid"));
    if (af.has("comm")) b.affects.comm = af.str("comm");
    if (af.has("device")) b.affects.device = af.str("device");
    b.recommendations = br.strings("recommendations");
    a.bottlenecks.push_back(std::move(b));
  }
  for (size_t i = 0; i < r.array("trends").size(); i++) {
    Reader t = r.item("trends", i);
    a.trends.push_back({t.str("series"), t.str("unit"), t.num("slope_per_s"), t.num("p_value"), t.str("direction"),
                        static_cast<size_t>(t.u64("samples"))});
  }
  for (size_t i = 0; i < r.array("recommendations").size(); i++) {
    Reader x = r.item("recommendations", i);
    a.recommendations.push_back({x.str("id"), x.str("text"), x.strings("because")});
  }
  for (size_t i = 0; i < r.array("alerts").size(); i++) {
    Reader x = r.item("alerts", i);
    a.alerts.push_back({x.num("t"), x.str("metric"), x.str("subject"), x.num("value"), x.num("threshold"), x.str("unit")});
  }
  return a;
}

}  // namespace

json calibration_to_json(const CalibrationInfo& c) {
  json sites = json::array();
  for (const auto& s : c.sites)
    sites.push_back({{"kind", s.kind}, {"method", s.method}, {"bias_ns", s.bias_ns}, {"bias_spread_ns", s.bias_spread_ns},
                     {"bias_uncertainty_ns", s.bias_uncertainty_ns}, {"cost_ns", s.cost_ns}, {"samples", s.samples}});
  return {{"method", c.method}, {"cpu_model", c.cpu_model}, {"measured_at", c.measured_at},
          {"from_cache", c.from_cache}, {"sites", sites}, {"bpf_ns_per_run", c.bpf_ns_per_run}};
}

CalibrationInfo calibration_from_json(const nlohmann::json& j) {
  try {
    return read_calibration(Reader(j, "calibration"));
  } catch (const Reader::Malformed& m) {
    throw Error("malformed calibration: " + m.where + " " + m.what, "", EINVAL);
  }
}

namespace {

// The report but its tables that grow with the session (functions, stacks): they are added
// whole by to_json and streamed by write_json_report.
json report_head(const Profile& p) {
  const SessionInfo& s = p.session;
  json skipped = json::array();
  for (const auto& k : p.skipped_functions)
    skipped.push_back({{"name", k.name}, {"object", k.object}, {"reason", k.reason}, {"spec", k.spec}});
  json report = {{"schema", p.schema},
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
                 {"skipped_functions", skipped},
                 {"events", {{"received", p.events.received}, {"lost", p.events.lost}, {"lost_by_reason", p.events.lost_by_reason}}},
                 {"calibration", calibration_to_json(p.calibration)},
                 {"overhead", overhead_json(p.overhead)}};
  add_split_counters_json(p.events, report["events"]);
  if (s.target_set.enabled) {
    const TargetSetInfo& t = s.target_set;
    report["session"]["target_set"] = {{"max_processes", t.max_processes},
                                       {"admitted", t.admitted},
                                       {"lost", t.lost},
                                       {"lost_by_reason", t.lost_by_reason}};
  }
  // Absent rather than null when no collector ran, so reports from before the section stay
  // byte-for-byte what they were.
  if (p.system.enabled) report["system"] = system_json(p.system);
  if (p.analysis.enabled) report["analysis"] = analysis_json(p.analysis);
  return report;
}

}  // namespace

json to_json(const Profile& p) {
  json report = report_head(p);
  json& functions = report["functions"] = json::array();
  for (const auto& f : p.functions) functions.push_back(function_json(f));
  report["stacks"] = p.stacks.enabled ? stacks_json(p.stacks) : json(nullptr);
  report["off_cpu"] = p.off_cpu.enabled ? stacks_json(p.off_cpu) : json(nullptr);
  return report;
}

namespace {

Profile read_profile(const json& report) {
  Reader root(report, "");
  Profile p;
  p.schema = root.str("schema");
  if (p.schema != kReportSchema) Reader::fail("schema", "is '" + p.schema + "', not " + kReportSchema);
  p.tool_version = root.object("tool").str("version");
  Reader s = root.object("session");
  p.session.mode = s.str("mode");
  p.session.pid = s.i64("pid");
  p.session.command = s.strings("command");
  p.session.follow_children = s.boolean("follow_children");
  p.session.start = s.str("start");
  p.session.start_monotonic_ns = s.u64("start_monotonic_ns");
  p.session.duration_s = s.num("duration_s");
  p.session.kernel = s.str("kernel");
  p.session.hostname = s.str("hostname");
  p.session.end_reason = s.str("end_reason");
  p.session.exit_code = s.i64("exit_code");
  if (s.has("target_set")) {  // absent in system mode and in reports from before it
    Reader t = s.object("target_set");
    TargetSetInfo& ts = p.session.target_set;
    ts.enabled = true;
    ts.max_processes = static_cast<uint32_t>(t.u64("max_processes"));
    ts.admitted = t.u64("admitted");
    ts.lost = t.u64("lost");
    ts.lost_by_reason = t.counts("lost_by_reason");
  }
  const json& functions = root.array("functions");
  for (size_t i = 0; i < functions.size(); i++)
    p.functions.push_back(read_function(Reader(functions[i], "functions[" + std::to_string(i) + "]")));
  if (root.has("skipped_functions"))  // absent before unprobeable functions were skipped
    for (size_t i = 0; i < root.array("skipped_functions").size(); i++) {
      Reader k = root.item("skipped_functions", i);
      p.skipped_functions.push_back({k.str("name"), k.str("object"), k.str("reason"), k.str("spec")});
    }
  Reader e = root.object("events");
  p.events.received = e.u64("received");
  p.events.lost = e.u64("lost");
  p.events.lost_by_reason = e.counts("lost_by_reason");
  read_split_counters(e, p.events);
  p.calibration = read_calibration(root.object("calibration"));
  p.overhead = read_overhead(root.object("overhead"));
  if (report.contains("stacks") && !report["stacks"].is_null()) p.stacks = read_stacks(root.object("stacks"));
  if (report.contains("off_cpu") && !report["off_cpu"].is_null()) p.off_cpu = read_stacks(root.object("off_cpu"));
  if (root.has("system")) p.system = read_system(root.object("system"));
  if (root.has("analysis")) p.analysis = read_analysis(root.object("analysis"));
  return p;
}

// SOURCE names the report in errors (its path; empty for JSON handed over in memory).
Profile read_profile_from(const json& report, const std::string& source) {
  const std::string which = source.empty() ? "malformed report: " : "malformed report " + source + ": ";
  const std::string hint = "was it written by perfbpf -o?";
  try {
    return read_profile(report);
  } catch (const Reader::Malformed& m) {
    throw Error(which + m.where + " " + m.what, hint, EINVAL);
  } catch (const json::exception& e) {  // a field read without a type check: still one line
    throw Error(which + json_error_text(e), hint, EINVAL);
  }
}

}  // namespace

Profile profile_from_json(const json& report) { return read_profile_from(report, ""); }

// The same bytes as to_json(profile).dump(2) + "\n", written as they are made: the document
// and its text were each several times the profile's own size (RSS 16 -> 52 MiB while a 180 s
// session's report was written).
void write_json_report(const Profile& profile, const std::string& path, const std::string& option) {
  if (path == "-") std::cout.flush();  // "-" is a duplicate of fd 1: what cout holds goes first
  OutputFile out(path, option);
  JsonStreamWriter w([&out](std::string_view text) { out.write(text); });
  auto stacks = [](const StackProfile& s) -> JsonMemberWriter {
    return [&s](JsonStreamWriter& w) {
      if (s.enabled)
        write_stacks_json(w, s);
      else
        w.value(nullptr);
    };
  };
  auto functions = [&profile](JsonStreamWriter& w) {
    write_array(w, profile.functions.size(), [&profile](size_t i) { return function_json(profile.functions[i]); });
  };
  write_object(w, report_head(profile),
               {{"functions", functions}, {"stacks", stacks(profile.stacks)}, {"off_cpu", stacks(profile.off_cpu)}});
  w.finish();
  out.write("\n");
  out.commit();
}

Profile read_json_report(const std::string& path) {
  return read_profile_from(read_json_file(path, "report", "was it written by perfbpf -o?"), path);
}

}  // namespace perfbpf
