#include "collect/funclat_decoder.h"

#include <linux/types.h>

#include <cstddef>
#include <cstring>

#include "funclat.h"

namespace perfbpf {

bool decode_funclat_event(const void* data, size_t size, CallRecord& out) {
  // --decompose writes a split after the call (struct funclat_split_event).
  if (size != sizeof(funclat_event) && size != sizeof(funclat_split_event)) return false;
  funclat_event e;
  std::memcpy(&e, data, sizeof(e));  // ring buffer records are only 8-byte aligned
  out.start_ns = e.start_ns;
  out.duration_ns = e.duration_ns;
  out.nested_cost_ns = e.nested_cost_ns;
  out.probe_id = e.probe_id;
  out.tgid = e.tgid;
  out.tid = e.tid;
  out.cpu = e.cpu;
  out.depth = e.depth;
  out.nested_calls = e.nested_calls;
  out.has_split = size == sizeof(funclat_split_event);
  if (out.has_split) {
    funclat_split s;
    std::memcpy(&s, static_cast<const char*>(data) + offsetof(funclat_split_event, split), sizeof(s));
    out.split = {s.runq_ns, s.io_ns, s.lock_ns, s.sleep_ns, s.wait_ns, s.wait_kstack, s.wait_ustack,
                 s.wait_kind, s.holder_tid, s.holder_probe, s.flags,
                 s.waker_tid, s.waker_ustack, s.waker_copy, s.wait_copy};
  }
  return true;
}

const char* funclat_loss_name(unsigned reason) {
  switch (reason) {
    case FUNCLAT_LOSS_RINGBUF_FULL: return "ringbuf_full";
    case FUNCLAT_LOSS_DEPTH_OVERFLOW: return "depth_overflow";
    case FUNCLAT_LOSS_MISSING_ENTRY: return "missing_entry";
    case FUNCLAT_LOSS_UNWOUND: return "unwound";
    case FUNCLAT_LOSS_THREAD_MAP_FULL: return "thread_map_full";
    case FUNCLAT_LOSS_NO_GOROUTINE: return "no_goroutine";
    case FUNCLAT_LOSS_SPLIT_NO_STORAGE: return "split_no_storage";
    case FUNCLAT_LOSS_SPLIT_SWITCH_IN_UNSEEN: return "split_switch_in_unseen";
    case FUNCLAT_LOSS_WAIT_STACK: return "wait_stack_lost";
    case FUNCLAT_LOSS_USER_COPY: return "stack_copy_lost";
    default: return "unknown";
  }
}

unsigned funclat_loss_count() { return FUNCLAT_LOSS_NR; }

std::map<std::string, uint64_t> funclat_losses_by_name(const std::vector<uint64_t>& totals) {
  std::map<std::string, uint64_t> named;
  // --decompose's counters (from FUNCLAT_LOSS_SPLIT_NO_STORAGE on) are about splits, not lost
  // calls: funclat_split_losses_by_name.
  for (unsigned i = 0; i < totals.size() && i < FUNCLAT_LOSS_SPLIT_NO_STORAGE; i++) named[funclat_loss_name(i)] = totals[i];
  return named;
}

std::map<std::string, uint64_t> funclat_split_losses_by_name(const std::vector<uint64_t>& totals) {
  std::map<std::string, uint64_t> named;
  for (unsigned i = FUNCLAT_LOSS_SPLIT_NO_STORAGE; i < totals.size() && i < FUNCLAT_LOSS_NR; i++)
    named[funclat_loss_name(i)] = totals[i];
  return named;
}

}  // namespace perfbpf
