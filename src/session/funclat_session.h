// Owns the funclat BPF object for one session: load with settings, attach each planned
// function (session/probe_plan.h) by its method, stream records to a callback, and read the
// loss, unwound and in-flight counters. Every libbpf object is held by RAII; -errno returns
// become perfbpf::Error.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "aggregate/aggregator.h"
#include "bpf_load/core_btf.h"
#include "session/probe_plan.h"

struct funclat_bpf;
struct funclat_sched_bpf;
struct funclat_user_copy;
struct bpf_map;
struct bpf_link;

namespace perfbpf {

class RingReader;

// What a plan's probes ask of the BPF object, so it loads only the programs they use (each
// costs ~10-45 ms of verification at start-up) and sizes the per-probe arrays to them. The
// default loads every program with room for 4096 functions (calibration, tests).
struct FuncLatNeeds {
  size_t probes = 4096;       // functions (probe ids 0..probes-1)
  size_t indirect_jumps = 4096;  // indirect jumps probed as possible exits
  bool uretprobe = true;      // functions timed by entry + return probe (or a uprobe session)
  bool return_sites = true;   // functions timed by probes on their exits
};
FuncLatNeeds funclat_needs(const std::vector<PlannedProbe>& probes);

struct FuncLatSettings {
  bool filter_tgid = true;        // only processes in the target set
  // The session's target set (session/target_set.h) to filter on; -1: a set of this object's
  // own, filled with add_target_tgid (calibration).
  int shared_targets_fd = -1;
  uint32_t max_threads = 8192;    // threads with an open probed call at once
  bool uprobe_multi = true;       // one link per file (Linux 6.6+); false: a perf-event link per probe
  bool uprobe_session = true;     // uretprobe functions as uprobe sessions (Linux 6.13+, with uprobe_multi)
  // Kernel BPF run-time statistics: they time every BPF program run in the system, which
  // adds ~100 ns to each probe hit (measured: 1296 -> 1490 ns per call on a NOP5 site).
  bool bpf_stats = false;
  // Split every thread's call into on-CPU, run-queue, I/O, lock and sleep time (CallRecord::split):
  // two scheduler programs run for every context switch and wakeup on the machine.
  bool decompose = false;
  FuncLatNeeds needs;             // what attach() will be given: funclat_needs(plan)
  // The ring's bytes (a power of two); 0: sized to the CPUs. Userspace is woken once each time
  // the queued records climb past an eighth of this (bpf/ring_wakeup.bpf.h): one forced
  // wake-up (a self-IPI, microseconds in a VM) per climb, never one per record.
  uint32_t ring_bytes = 0;
  // CO-RE against the few kernel types the programs read (bpf_load/core_btf.h, cached), so that
  // libbpf does not parse the kernel's whole BTF at load; false: libbpf's own way.
  bool core_btf = true;
};

class FuncLatSession {
 public:
  using RecordSink = std::function<void(const CallRecord&)>;

  // Opens and loads the BPF object. Throws Error (verifier log on -v).
  FuncLatSession(const FuncLatSettings& settings, RecordSink sink);
  ~FuncLatSession();
  FuncLatSession(const FuncLatSession&) = delete;
  FuncLatSession& operator=(const FuncLatSession&) = delete;

  void add_target_tgid(uint32_t tgid);
  // The target set filtered on (the shared one when given), and its members now.
  int targets_fd() const;
  std::vector<uint32_t> target_tgids() const;
  // Calibrated per-call probe cost by probe id, so BPF can tell each call how much probe time
  // its probed descendants added. Call before attach().
  void set_probe_costs(const std::vector<uint64_t>& cost_ns);
  // A function the kernel refused to probe (its probes are all left out), with the errno.
  struct Refused {
    size_t probe_id;
    int error;
  };
  // Attaches every planned function, probe id = index in PROBES, then starts recording.
  // PROBES must be within the settings' needs (Error otherwise).
  // Return sites go in before entries, so a call never has an entry without its return
  // probe; a call already running then is counted as in flight at attach when it returns.
  // PID -1 attaches in every process (the BPF target set filters). A link the kernel refuses
  // is searched for the functions at fault, which are left out and returned. Throws Error
  // for other failures; probes attached before it are detached by the destructor.
  std::vector<Refused> attach(const std::vector<PlannedProbe>& probes, pid_t pid);

  int epoll_fd() const;
  // Hands every queued record to the sink; returns how many, or throws Error.
  int consume();
  // Stops new calls, detaches every probe (nothing new arrives afterwards); then drains the
  // ring buffer.
  void detach_and_drain();

  uint64_t records() const { return records_; }
  uint64_t malformed_records() const { return malformed_; }
  std::vector<uint64_t> losses() const;             // per reason, summed over CPUs
  std::vector<uint64_t> in_flight(size_t probes) const;  // per probe id: calls never returned
  std::vector<uint64_t> unwound(size_t probes) const;    // per probe id: left by longjmp or exception
  std::vector<uint64_t> in_flight_at_attach(size_t probes) const;  // per probe id: entered before attach
  // CPU time of each thread that made probed calls, in all its life (sum_exec_runtime): at its
  // exit, or now while it lives; ns by tid (goroutines are not threads: none for them).
  std::map<uint32_t, uint64_t> thread_cpu_ns() const;
  std::vector<uint32_t> program_ids() const;  // for tests: freed one RCU grace period after destruction
  std::vector<uint32_t> link_ids() const;     // for tests: gone as soon as the session detaches
  // Kernel BPF statistics of our programs, {run time ns, run count}; zeros unless bpf_stats.
  std::pair<uint64_t, uint64_t> run_stats() const;
  bool bpf_stats_enabled() const { return stats_fd_ >= 0; }
  // The ring's wake-up mark (bytes queued) and the wake-ups the programs forced so far.
  uint64_t wakeup_bytes() const;
  uint64_t forced_wakeups() const;
  // --decompose: a wait's stack by id (CallSplit::wait_kstack / wait_ustack), innermost first;
  // empty when the id is < 0 or gone.
  std::vector<uint64_t> wait_stack(int32_t id) const;
  // --decompose: a thread's registers and stack top by CallSplit::waker_copy or wait_copy; false
  // when its slot was reused by a later copy (map user_copies keeps the latest 1024).
  bool user_copy(uint32_t seq, funclat_user_copy& out) const;
  bool decompose() const;  // whether calls are split (the --decompose programs are loaded)
  // Where the CO-RE relocations' kernel types came from; None: libbpf read the kernel's BTF.
  CoreBtfSource core_btf_source() const { return core_btf_source_; }

 private:
  static int on_record(void* ctx, const void* data, size_t size);

  struct SkelDeleter {
    void operator()(funclat_bpf* s) const;
    void operator()(funclat_sched_bpf* s) const;
  };
  struct LinkDeleter { void operator()(bpf_link* l) const; };

  struct Batch;
  std::vector<Batch> batches(const std::vector<PlannedProbe>& probes, const std::vector<bool>& left_out) const;
  int create_link(const Batch& b, const std::vector<size_t>& subset, pid_t pid) const;
  void find_refused(const Batch& b, std::vector<size_t> subset, pid_t pid, std::vector<Refused>& out) const;
  void write_indirect_sites(const std::vector<PlannedProbe>& probes);
  std::vector<uint64_t> per_probe(bpf_map* map, size_t probes) const;
  // Threads that have a stack in BPF (map "threads"), as (tid, tgid).
  void for_each_thread(const std::function<void(uint32_t tid, uint32_t tgid)>& fn) const;
  void set_phase(unsigned phase);
  void check_needs(const std::vector<PlannedProbe>& probes) const;
  void open_and_load(const FuncLatSettings& settings, const char* core_btf_path);
  void load_scheduler_programs();

  std::unique_ptr<funclat_bpf, SkelDeleter> skel_;
  std::unique_ptr<funclat_sched_bpf, SkelDeleter> sched_;  // --decompose only
  CoreBtfSource core_btf_source_ = CoreBtfSource::None;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links_;
  std::unique_ptr<bpf_link, LinkDeleter> exit_link_;  // thread exits: kept past detach_and_drain
  std::vector<int> multi_links_;  // uprobe_multi link fds
  bool uprobe_multi_ = false;
  bool uprobe_session_ = false;
  FuncLatNeeds needs_;
  std::unique_ptr<RingReader> ring_;
  int stats_fd_ = -1;  // holds kernel.bpf_stats_enabled on while the session runs
  RecordSink sink_;
  uint64_t records_ = 0;
  uint64_t malformed_ = 0;
};

}  // namespace perfbpf
