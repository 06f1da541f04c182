// On-CPU stack sampling: a cpu-clock perf event per online CPU running bpf/profile.bpf.c,
// counting samples per (thread, user stack, kernel stack). Raw addresses only; symbols are
// resolved after the session (src/symbols/symbolizer.h), never on the event path.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "collect/perf_events.h"
#include "symbols/proc_maps.h"
#include "symbols/stack_unwinder.h"

struct profile_bpf;
struct stack_sample;
struct bpf_link;
struct ring_buffer;

namespace perfbpf {

struct RawStackSample {
  uint32_t tgid = 0, tid = 0;
  std::vector<uint64_t> user;    // innermost first; empty for kernel threads or failed captures
  std::vector<uint64_t> kernel;  // innermost first
  uint64_t count = 0;            // samples, or ns off CPU
  int off_cpu_state = -1;        // enum offcpu_state for off-CPU time, -1 for samples
  bool user_truncated = false;   // the user stack goes on beyond its outermost frame here
};

struct SamplerSettings {
  unsigned frequency_hz = 99;
  bool filter_tgid = true;  // only processes added with add_target_tgid
  int shared_targets_fd = -1;  // use another object's target set (funclat's follows children)
  // The target set never grows (a running process, its children not followed): no process
  // forked in the session is sampled, so forks are not traced (one program less to verify).
  bool fixed_targets = false;
  bool off_cpu = false;         // also time threads switched out (sched_switch)
  uint64_t min_block_ns = 1000; // off-CPU spells shorter than this are not recorded
  // Set: each sample's user stack is copied and handed to this as it arrives (consume()), for
  // code without frame pointers; unset: user stacks are walked by frame pointers in the kernel.
  std::function<UnwoundStack(const StackCopy&)> unwind;
  // Each executable file mapping of a sampled process, as the kernel sends it: before the
  // process's first sample and after its code mappings change (consume(), in that order).
  std::function<void(const CodeMapping&)> code_mapping;
  // A sampled process forked CHILD (a copy of PARENT's address space until it execs).
  std::function<void(uint32_t child, uint32_t parent)> fork;
};

class CpuSampler {
 public:
  explicit CpuSampler(const SamplerSettings& settings);  // opens and loads; throws Error
  ~CpuSampler();
  CpuSampler(const CpuSampler&) = delete;
  CpuSampler& operator=(const CpuSampler&) = delete;

  void add_target_tgid(uint32_t tgid);
  void start();  // one perf event per online CPU; with off_cpu the switch programs, idle until:
  // The off-CPU window (the session's): waits are timed from open_window(AT) to
  // close_window(AT) (CLOCK_MONOTONIC, now or just before), those already open at either end
  // for their part inside it. Each runs once; throw Error.
  void open_window(uint64_t at_ns);
  void close_window(uint64_t at_ns);
  void stop();   // closes the window if open, detaches; the counts stay readable

  // Hands on the code mappings and unwinds the user stacks queued since the last call
  // (settings.code_mapping, settings.unwind), in the order sent; returns how many records.
  int consume();
  int epoll_fd() const;  // readable when records are queued

  std::vector<RawStackSample> collect() const;
  std::vector<uint32_t> sampled_tgids() const;
  std::map<uint32_t, std::string> process_names() const;  // as at each process's first sample  // processes with samples so far (keys only, cheap)
  std::vector<RawStackSample> collect_off_cpu() const;
  std::vector<uint64_t> losses() const;  // by enum profile_loss, summed over CPUs
  // Waits still open after close_window(): of threads the kernel hides from iterators, or gone
  // since; their time in the session is not counted.
  uint64_t waits_not_closed() const { return waits_not_closed_; }
  const std::string& event() const { return event_; }  // "cycles" or "cpu-clock" once started

 private:
  struct SkelDeleter { void operator()(profile_bpf* s) const; };
  std::unique_ptr<profile_bpf, SkelDeleter> skel_;
  struct RingDeleter { void operator()(ring_buffer* r) const; };
  std::unique_ptr<ring_buffer, RingDeleter> ring_;
  static int on_record(void* ctx, void* data, size_t size);
  void on_stack_sample(const void* data, size_t size);
  void unwind_sample(const stack_sample* rec);
  void on_code_mapping(const void* data, size_t size);
  std::function<UnwoundStack(const StackCopy&)> unwind_;
  std::function<void(const CodeMapping&)> code_mapping_;
  std::function<void(uint32_t, uint32_t)> fork_;
  // Unwound samples: (tgid, tid, kernel stack (kernel_ids_), truncated, user frames) -> count.
  using UnwoundKey = std::tuple<uint32_t, uint32_t, uint32_t, bool, std::vector<uint64_t>>;
  struct UnwoundHash {
    size_t operator()(const UnwoundKey& k) const;
  };
  std::unordered_map<UnwoundKey, uint64_t, UnwoundHash> unwound_;
  // The unwound samples' kernel stacks (innermost first; empty in user code), each an id.
  struct FramesHash {
    size_t operator()(const std::vector<uint64_t>& frames) const;
  };
  std::unordered_map<std::vector<uint64_t>, uint32_t, FramesHash> kernel_ids_;
  // Samples sent before their process's code mappings (STACK_SAMPLE_MAPPINGS_PENDING), with
  // the number of sets of mappings its process had had then (sets_, by tgid).
  struct Parked {
    uint32_t tgid;
    uint64_t sets;
    uint64_t at_ns;
    std::vector<uint8_t> record;
  };
  std::vector<Parked> parked_;
  size_t parked_bytes_ = 0;
  std::unordered_map<uint32_t, uint64_t> sets_;
  bool stopped_ = false;
  uint64_t malformed_ = 0;     // records shorter than they say (never expected)
  uint64_t unwound_full_ = 0;  // samples dropped: no room for another distinct unwound stack
  std::vector<bpf_link*> links_;
  PerCpuEvents events_;
  unsigned frequency_hz_;
  std::string event_;
  bool off_cpu_;
  bpf_link* open_waits_ = nullptr;
  bpf_link* close_waits_ = nullptr;
  bool window_opened_ = false, window_closed_ = false;
  uint64_t waits_not_closed_ = 0;
};

const char* profile_loss_name(unsigned reason);
const char* offcpu_state_name(int state);  // "runnable", "io", "sleep"
// Which views a loss (enum profile_loss, named by profile_loss_name) is reported in, and whether
// it drops what the view counts (a sample, a wait's time: added to the view's "lost") or only
// leaves something kept without its stack or name.
struct LossScope {
  bool samples;  // the on-CPU samples' view
  bool off_cpu;  // the off-CPU view
  bool drops;
};
LossScope loss_scope(unsigned reason);

}  // namespace perfbpf
