#include "session/slow_calls.h"

#include <linux/types.h>

#include <optional>

#include "aggregate/aggregator.h"
#include "funclat.h"
#include "session/funclat_session.h"
#include "symbols/stack_unwinder.h"
#include "symbols/symbolizer.h"

namespace perfbpf {
namespace {

// The stack is taken inside the sched_switch tracepoint: its top frames are perfbpf's own
// program and the tracepoint's plumbing, not where the thread waits.
bool tracing_frame(const std::string& name) {
  for (const char* prefix : {"bpf_prog_", "bpf_trace_run", "__traceiter_", "__bpf_trace_"})
    if (name.rfind(prefix, 0) == 0) return true;
  return false;
}

// User addresses of TGID, innermost first, as report frames (inlined functions expanded).
void append_user_frames(Symbolizer& symbols, uint32_t tgid, const std::vector<uint64_t>& ips,
                        std::vector<SlowCall::Frame>& out) {
  bool leaf = true;
  for (uint64_t ip : ips) {
    // Inlined functions come outermost first; the stack is innermost first.
    std::vector<SymbolizedFrame> frames = symbols.user_frames(tgid, ip, leaf);
    for (auto it = frames.rbegin(); it != frames.rend(); ++it) out.push_back({it->name, it->object});
    leaf = false;
  }
}

// A user stack taken both ways: the copy COPY_SEQ unwound by CFI, joined to the frame-pointer
// walk FP_ID (FuncLatSession::wait_stack) where the two meet; the walk alone without the copy.
std::vector<uint64_t> user_ips(const FuncLatSession& bpf, int32_t fp_id, uint32_t copy_seq,
                               std::optional<StackUnwinder>& unwinder, Symbolizer& symbols) {
  std::vector<uint64_t> fp = bpf.wait_stack(fp_id);
  funclat_user_copy copy;
  if (!bpf.user_copy(copy_seq, copy)) return fp;
  UserRegs regs;
  std::copy(std::begin(copy.regs), std::end(copy.regs), regs.r);
  StackCopy c;
  c.tgid = copy.tgid;
  c.tid = copy.tid;
  c.regs = &regs;
  c.stack = copy.stack;
  c.size = copy.size;
  c.start = copy.start;
  c.cut = true;  // a window of the stack, never its top
  if (!unwinder) unwinder.emplace(symbols, FUNCLAT_WAIT_STACK_DEPTH);
  UnwoundStack cfi = unwinder->unwind(c);
  const std::pair<uint64_t, uint64_t> trampoline{copy.trampoline, copy.trampoline ? copy.trampoline + 4096 : 0};
  return join_user_stack(cfi.frames, cfi.end == UnwoundStack::End::Complete, fp, trampoline);
}

}  // namespace

std::vector<uint64_t> join_user_stack(std::vector<uint64_t> cfi, bool cfi_whole, const std::vector<uint64_t>& fp,
                                      std::pair<uint64_t, uint64_t> trampoline) {
  if (cfi.size() <= 1) return fp;  // nothing unwound past the leaf
  // A uretprobe took over this return address: the frame-pointer walk has the original (the
  // kernel puts it back), just before the frame both walks found next.
  for (size_t k = 1; k < cfi.size(); k++) {
    if (cfi[k] < trampoline.first || cfi[k] >= trampoline.second) continue;
    bool found = false;
    for (size_t j = 1; k + 1 < cfi.size() && j + 1 < fp.size() && !found; j++)
      if (fp[j + 1] == cfi[k + 1]) {
        cfi[k] = fp[j];
        found = true;
      }
    if (!found) {  // no way to tell the original: CFI's frames up to it, then as below
      cfi.resize(k);
      cfi_whole = false;
      break;
    }
  }
  if (cfi_whole || fp.size() <= 1) return cfi;
  // Frame pointers skip the caller of a function that keeps none (a libc leaf), so the walks
  // agree from some return address on: CFI's frames up to it, the frame pointers' after it.
  for (size_t i = 1; i < cfi.size(); i++)
    for (size_t j = 1; j < fp.size(); j++)
      if (cfi[i] == fp[j]) {
        std::vector<uint64_t> joined(cfi.begin(), cfi.begin() + static_cast<long>(i) + 1);
        joined.insert(joined.end(), fp.begin() + static_cast<long>(j) + 1, fp.end());
        return joined;
      }
  return cfi;  // they never meet: what CFI found, no frame-pointer guess after it
}

void fill_slow_calls(std::vector<FunctionProfile>& functions, const Aggregator& aggregator,
                     const FuncLatSession& bpf, Symbolizer& symbols, uint64_t session_start_ns) {
  std::optional<StackUnwinder> unwinder;  // only when a stack copy is to be unwound
  for (size_t probe = 0; probe < functions.size(); probe++) {
    const SplitBook* book = aggregator.split_book(probe);
    if (!book) continue;
    std::vector<SlowCall>& out = functions[probe].slowest_calls;
    out.clear();
    for (const SplitBook::Kept& k : book->slowest(kSlowCallsKept)) {
      SlowCall s = slow_call(k, session_start_ns);
      if (s.wait_ns) {
        for (uint64_t ip : bpf.wait_stack(k.split.wait_kstack)) {
          SymbolizedFrame f = symbols.kernel_frame(ip);
          if (s.wait_stack.empty() && tracing_frame(f.name)) continue;
          s.wait_stack.push_back({f.name, f.object});
        }
        append_user_frames(symbols, k.tgid, user_ips(bpf, k.split.wait_ustack, k.split.wait_copy, unwinder, symbols),
                           s.wait_stack);
      }
      if (s.holder_tid && k.split.holder_probe < functions.size())
        s.holder_function = functions[k.split.holder_probe].demangled;
      if (k.split.wait_kind == 1 && k.split.waker_tid) {
        // Seen unlocking: the holder. Its probed call was looked up for the mutex's owner.
        if (s.holder_tid != k.split.waker_tid) s.holder_function.clear();
        s.holder_tid = k.split.waker_tid;
        s.holder_source = "futex-waker";
        append_user_frames(symbols, k.tgid,
                           user_ips(bpf, k.split.waker_ustack, k.split.waker_copy, unwinder, symbols), s.holder_stack);
      }
      out.push_back(std::move(s));
    }
  }
}

}  // namespace perfbpf
