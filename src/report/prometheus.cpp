#include "report/prometheus.h"

#include <cmath>
#include <string>

#include <fmt/format.h>

#include "session/system_info.h"

namespace perfbpf {
namespace {

std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

using Labels = std::vector<std::pair<std::string, std::string>>;

std::string label_text(const Labels& labels) {
  if (labels.empty()) return {};
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); i++)
    out += fmt::format("{}{}=\"{}\"", i ? "," : "", labels[i].first, escape_label(labels[i].second));
  return out + "}";
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}

// Families are written whole, in the order first used: the format wants every sample of a
// family together, under its one HELP and TYPE.
class Exposition {
 public:
  struct Family {
    std::string name, type, help;
    std::string samples;
  };

  Family& family(const std::string& name, const std::string& type, const std::string& help) {
    for (auto& f : families_)
      if (f.name == name) return f;
    families_.push_back({name, type, help, {}});
    return families_.back();
  }
  void sample(const std::string& name, const std::string& type, const std::string& help, const Labels& labels,
              double value) {
    family(name, type, help).samples += name + label_text(labels) + " " + number(value) + "\n";
  }
  void counter(const std::string& name, const std::string& help, const Labels& labels, double value) {
    sample(name, "counter", help, labels, value);
  }
  void gauge(const std::string& name, const std::string& help, const Labels& labels, double value) {
    sample(name, "gauge", help, labels, value);
  }
  // BUCKETS in ns; exposed in seconds.
  void histogram(const std::string& name, const std::string& help, const Labels& labels,
                 const std::vector<HistogramBucket>& buckets, double sum_ns) {
    Family& f = family(name, "histogram", help);
    static const std::vector<uint64_t> bounds_ns = [] {
      std::vector<uint64_t> ns;
      for (double s : prometheus_latency_bounds()) ns.push_back(static_cast<uint64_t>(std::llround(s * 1e9)));
      return ns;
    }();
    std::vector<uint64_t> cumulative = cumulative_counts(buckets, bounds_ns);
    uint64_t count = 0;
    for (const auto& b : buckets) count += b.count;
    for (size_t i = 0; i < bounds_ns.size(); i++) {
      Labels with_le = labels;
      with_le.emplace_back("le", number(prometheus_latency_bounds()[i]));
      f.samples += name + "_bucket" + label_text(with_le) + " " + std::to_string(cumulative[i]) + "\n";
    }
    Labels inf = labels;
    inf.emplace_back("le", "+Inf");
    f.samples += name + "_bucket" + label_text(inf) + " " + std::to_string(count) + "\n";
    f.samples += name + "_sum" + label_text(labels) + " " + number(sum_ns / 1e9) + "\n";
    f.samples += name + "_count" + label_text(labels) + " " + std::to_string(count) + "\n";
  }

  std::string text() const {
    std::string out;
    for (const auto& f : families_)
      out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{}", f.name, f.help, f.name, f.type, f.samples);
    return out;
  }

 private:
  std::vector<Family> families_;
};

double seconds(uint64_t ns) { return static_cast<double>(ns) / 1e9; }

void functions(Exposition& e, const Profile& p) {
  const std::string pid = std::to_string(p.session.pid);
  for (const auto& f : p.functions) {
    Labels l{{"function", f.demangled}, {"object", f.object}, {"pid", pid}};
    e.counter("perfbpf_function_calls_total", "Calls of the function that returned (uprobes, every call).", l,
              static_cast<double>(f.calls));
    e.gauge("perfbpf_function_in_flight", "Calls of the function entered and not yet returned.", l,
            static_cast<double>(f.in_flight));
    e.histogram("perfbpf_function_latency_seconds",
                "Wall time of each call, entry to return, probe cost subtracted.", l, f.histogram,
                static_cast<double>(f.latency.total));
  }
}

void processes(Exposition& e, const SystemProfile& s) {
  for (const auto& proc : s.processes) {
    const ResourceUsage& u = proc.usage;
    Labels l{{"pid", std::to_string(proc.pid)}, {"comm", proc.comm}};
    auto with = [&l](const char* key, const char* value) {
      Labels x = l;
      x.emplace_back(key, value);
      return x;
    };
    e.counter("perfbpf_process_cpu_seconds_total", "CPU time of the process's threads.", l, seconds(u.cpu_time_ns));
    e.counter("perfbpf_process_runqueue_wait_seconds_total", "Time runnable but waiting for a CPU (run-queue wait).",
              l, seconds(u.off_cpu_ns.runqueue));
    e.counter("perfbpf_process_io_wait_seconds_total", "Time in uninterruptible sleep (D state: I/O wait).", l,
              seconds(u.off_cpu_ns.io));
    e.counter("perfbpf_process_sleep_seconds_total", "Time in interruptible sleep (S state).", l,
              seconds(u.off_cpu_ns.sleep));
    e.counter("perfbpf_process_context_switches_total", "Context switches: the thread blocked or was preempted.",
              with("kind", "voluntary"), static_cast<double>(u.ctx_switches.voluntary));
    e.counter("perfbpf_process_context_switches_total", "Context switches: the thread blocked or was preempted.",
              with("kind", "involuntary"), static_cast<double>(u.ctx_switches.involuntary));
    e.gauge("perfbpf_process_resident_memory_bytes", "Resident set size, last read.", l,
            static_cast<double>(u.memory.rss_last_bytes));
    e.gauge("perfbpf_process_resident_memory_peak_bytes", "Highest resident set size seen during the session.", l,
            static_cast<double>(u.memory.rss_peak_bytes));
    e.counter("perfbpf_process_page_faults_total", "Page faults; major ones needed a read from disk.",
              with("kind", "minor"), static_cast<double>(u.faults.minor));
    e.counter("perfbpf_process_page_faults_total", "Page faults; major ones needed a read from disk.",
              with("kind", "major"), static_cast<double>(u.faults.major));
    e.counter("perfbpf_process_disk_read_bytes_total", "Bytes of block requests the process submitted to read.", l,
              static_cast<double>(u.disk.read_bytes));
    e.counter("perfbpf_process_disk_written_bytes_total", "Bytes of block requests the process submitted to write.",
              l, static_cast<double>(u.disk.write_bytes));
    e.counter("perfbpf_process_network_transmit_bytes_total", "Payload bytes sent through inet sockets.", l,
              static_cast<double>(u.net.tx_bytes));
    e.counter("perfbpf_process_network_receive_bytes_total", "Payload bytes received through inet sockets.", l,
              static_cast<double>(u.net.rx_bytes));
    e.counter("perfbpf_process_tcp_retransmits_total", "TCP segments retransmitted.", l,
              static_cast<double>(u.net.retransmits));
  }
}

void machine(Exposition& e, const SystemProfile& s) {
  e.histogram("perfbpf_runqueue_latency_seconds", "Wakeup to running: time runnable threads in scope waited for a CPU.",
              {}, s.runqueue_latency_ns.histogram, static_cast<double>(s.runqueue_latency_ns.summary.total));
  e.gauge("perfbpf_machine_memory_used_ratio", "Machine memory in use (MemTotal - MemAvailable) / MemTotal, last read.",
          {}, s.memory_used_pct_last / 100);
  for (const auto& d : s.disks) {
    Labels l{{"device", d.name}};
    e.counter("perfbpf_disk_read_bytes_total", "Bytes read by completed block requests.", l,
              static_cast<double>(d.traffic.read_bytes));
    e.counter("perfbpf_disk_written_bytes_total", "Bytes written by completed block requests.", l,
              static_cast<double>(d.traffic.write_bytes));
    e.counter("perfbpf_disk_reads_completed_total", "Completed read requests.", l,
              static_cast<double>(d.traffic.read_ios));
    e.counter("perfbpf_disk_writes_completed_total", "Completed write requests.", l,
              static_cast<double>(d.traffic.write_ios));
    const char* help = "Block request latency by stage: queue (insert to issue), service (issue to completion), total.";
    for (const auto& [stage, dist] : {std::pair<const char*, const LatencyDistribution*>{"queue", &d.queue_ns},
                                      {"service", &d.service_ns},
                                      {"total", &d.total_ns}}) {
      Labels x = l;
      x.emplace_back("stage", stage);
      e.histogram("perfbpf_disk_request_latency_seconds", help, x, dist->histogram,
                  static_cast<double>(dist->summary.total));
    }
  }
}

void losses(Exposition& e, const Profile& p) {
  const char* help = "Events perfbpf could not count, by where and why: a number resting on them is incomplete.";
  e.counter("perfbpf_events_received_total", "Function call records received from the BPF ring buffer.", {},
            static_cast<double>(p.events.received));
  // Always present, so an alert on it has a series even while nothing is lost.
  e.counter("perfbpf_events_lost_total", help, {{"source", "functions"}, {"reason", "any"}},
            static_cast<double>(p.events.lost));
  for (const auto& [reason, n] : p.events.lost_by_reason)
    e.counter("perfbpf_events_lost_total", help, {{"source", "functions"}, {"reason", reason}}, static_cast<double>(n));
  for (const auto& [source, stacks] : {std::pair<const char*, const StackProfile*>{"stacks", &p.stacks},
                                       {"off_cpu", &p.off_cpu}})
    if (stacks->enabled)
      for (const auto& [reason, n] : stacks->lost_by_reason)
        e.counter("perfbpf_events_lost_total", help, {{"source", source}, {"reason", reason}}, static_cast<double>(n));
  if (p.system.enabled)
    for (const auto& [reason, n] : p.system.lost_by_reason)
      e.counter("perfbpf_events_lost_total", help, {{"source", "system"}, {"reason", reason}}, static_cast<double>(n));
}

void session(Exposition& e, const Profile& p) {
  e.gauge("perfbpf_session_info", "The session: target mode, host, kernel and perfbpf version (value 1).",
          {{"mode", p.session.mode}, {"hostname", p.session.hostname}, {"kernel", p.session.kernel},
           {"version", p.tool_version}},
          1);
  int64_t start_ns = 0;
  if (rfc3339_to_unix_ns(p.session.start, start_ns))
    e.gauge("perfbpf_session_start_time_seconds", "When the session started, Unix time.", {},
            static_cast<double>(start_ns) / 1e9);
  e.gauge("perfbpf_session_duration_seconds", "How long the session has run.", {}, p.session.duration_s);
  if (p.stacks.enabled)
    e.counter("perfbpf_cpu_samples_total", "On-CPU stack samples taken (cpu-clock or cycles).", {},
              static_cast<double>(p.stacks.samples));
  if (p.off_cpu.enabled) {
    std::map<std::string, uint64_t> by_reason;
    for (const auto& s : p.off_cpu.stacks) {
      std::string reason = "unknown";
      if (!s.frames.empty()) {
        const std::string& leaf = p.off_cpu.frames[s.frames.back()].name;  // "[off-cpu: io]"
        if (leaf.rfind("[off-cpu: ", 0) == 0) reason = leaf.substr(10, leaf.size() - 11);
      }
      by_reason[reason] += s.count;
    }
    for (const auto& [reason, ns] : by_reason)
      e.counter("perfbpf_off_cpu_seconds_total", "Time threads spent off CPU in spells recorded by stack, by why.",
                {{"reason", reason}}, seconds(ns));
  }
  const OverheadInfo& o = p.overhead;
  e.counter("perfbpf_self_cpu_seconds_total", "CPU time perfbpf itself used (getrusage).", {}, o.perfbpf_cpu_s);
  e.gauge("perfbpf_self_peak_resident_memory_bytes", "perfbpf's own peak resident set size.", {},
          static_cast<double>(o.perfbpf_peak_rss_bytes));
  if (o.bpf_stats != "none")
    e.counter("perfbpf_bpf_run_time_seconds_total",
              "Time perfbpf's BPF programs ran in the kernel (measured with BPF stats, or estimated from calibration).",
              {{"method", o.bpf_stats}}, seconds(o.bpf_run_time_ns));
  e.gauge("perfbpf_probe_overhead_ratio", "Estimated slowdown of the target by the function probes (0.01 = 1 %).", {},
          o.target_slowdown_pct / 100);
  e.gauge("perfbpf_data_completeness_ratio", "Function call records received / (received + lost).", {},
          o.completeness_pct / 100);
  if (p.analysis.enabled) {
    e.gauge("perfbpf_health_score", "Health score of the analysis, 0-100 (100 less points per bottleneck).", {},
            p.analysis.health.score);
    std::map<std::string, uint64_t> by_severity{{"critical", 0}, {"high", 0}, {"medium", 0}, {"low", 0}};
    for (const auto& b : p.analysis.bottlenecks) by_severity[b.severity]++;
    for (const auto& [severity, n] : by_severity)
      e.gauge("perfbpf_bottlenecks", "Bottlenecks the analysis found, by severity.", {{"severity", severity}},
              static_cast<double>(n));
    e.counter("perfbpf_alerts_total", "Thresholds crossed during the session (each counted when it started to hold).",
              {}, static_cast<double>(p.analysis.alerts.size()));
  }
}

}  // namespace

const std::vector<double>& prometheus_latency_bounds() {
  static const std::vector<double> bounds = [] {
    std::vector<double> b;
    // From decimal text, so each bound is the double nearest 2.5e-06 (and prints as that),
    // not 2.5 * pow(10, -6) rounded twice.
    for (int exp = -7; exp <= 1; exp++)
      for (const char* m : {"1", "2.5", "5"}) b.push_back(std::stod(fmt::format("{}e{}", m, exp)));
    b.push_back(100);
    return b;
  }();
  return bounds;
}

std::vector<uint64_t> cumulative_counts(const std::vector<HistogramBucket>& buckets,
                                        const std::vector<uint64_t>& bounds_ns) {
  std::vector<uint64_t> out(bounds_ns.size(), 0);
  for (const auto& b : buckets)
    for (size_t i = 0; i < bounds_ns.size(); i++)
      if (b.upper_ns <= bounds_ns[i]) out[i] += b.count;
  return out;
}

std::string prometheus_exposition(const Profile& main, const std::vector<const Profile*>& others) {
  Exposition e;
  functions(e, main);
  for (const Profile* p : others) functions(e, *p);
  if (main.system.enabled) {
    processes(e, main.system);
    machine(e, main.system);
  }
  losses(e, main);
  session(e, main);
  return e.text();
}

}  // namespace perfbpf
