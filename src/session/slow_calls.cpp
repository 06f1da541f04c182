#include "session/slow_calls.h"

#include "aggregate/aggregator.h"
#include "session/funclat_session.h"
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

}  // namespace

void fill_slow_calls(std::vector<FunctionProfile>& functions, const Aggregator& aggregator,
                     const FuncLatSession& bpf, Symbolizer& symbols, uint64_t session_start_ns) {
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
        bool leaf = true;
        for (uint64_t ip : bpf.wait_stack(k.split.wait_ustack)) {
          // Inlined functions come outermost first; the stack is innermost first.
          std::vector<SymbolizedFrame> frames = symbols.user_frames(k.tgid, ip, leaf);
          for (auto it = frames.rbegin(); it != frames.rend(); ++it) s.wait_stack.push_back({it->name, it->object});
          leaf = false;
        }
      }
      if (s.holder_tid && k.split.holder_probe < functions.size())
        s.holder_function = functions[k.split.holder_probe].demangled;
      out.push_back(std::move(s));
    }
  }
}

}  // namespace perfbpf
