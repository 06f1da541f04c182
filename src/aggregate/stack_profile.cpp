#include "aggregate/stack_profile.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace perfbpf {
namespace {

constexpr size_t kTopFunctions = 20;

class FrameTable {
 public:
  explicit FrameTable(std::vector<StackFrame>& frames) : frames_(frames) {}
  uint32_t intern(const SymbolizedFrame& f) {
    auto key = std::make_tuple(f.name, f.object, f.kernel);
    auto it = index_.find(key);
    if (it != index_.end()) return it->second;
    frames_.push_back({f.name, f.object, f.kernel, f.source});
    return index_[key] = static_cast<uint32_t>(frames_.size() - 1);
  }

 private:
  std::vector<StackFrame>& frames_;
  std::map<std::tuple<std::string, std::string, bool>, uint32_t> index_;
};

bool is_tracing_glue(const std::string& name) {
  for (const char* prefix : {"bpf_prog_", "bpf_trace_run", "__bpf_trace_", "__traceiter_", "bpf_get_stack"})
    if (name.rfind(prefix, 0) == 0) return true;
  return false;
}

}  // namespace

StackProfile build_stack_profile(const std::vector<RawStackSample>& samples, Symbolizer& symbols,
                                 unsigned frequency_hz) {
  StackProfile p;
  p.enabled = true;
  p.frequency_hz = frequency_hz;
  FrameTable table(p.frames);
  uint64_t frames_seen = 0, frames_named = 0, with_user = 0, shallow_user = 0;
  std::map<std::string, FunctionShare> shares;
  for (const RawStackSample& s : samples) {
    StackCount stack;
    stack.tgid = s.tgid;
    stack.tid = s.tid;
    stack.count = s.count;
    // Root first: the user stack from main down, then the kernel stack it trapped into.
    for (auto it = s.user.rbegin(); it != s.user.rend(); ++it) {
      for (const SymbolizedFrame& f : symbols.user_frames(s.tgid, *it, /*leaf=*/it == s.user.rend() - 1)) {
        frames_seen += s.count;
        frames_named += f.resolved ? s.count : 0;
        stack.frames.push_back(table.intern(f));
      }
    }
    // A stack captured in a tracepoint handler starts with perfbpf's own program and the
    // tracing glue: those frames describe the observer, not the thread.
    std::vector<SymbolizedFrame> kernel;
    for (uint64_t ip : s.kernel) kernel.push_back(symbols.kernel_frame(ip));
    size_t own = 0;
    while (own < kernel.size() && is_tracing_glue(kernel[own].name)) own++;
    for (auto it = kernel.rbegin(); it != kernel.rend() - static_cast<long>(own); ++it) {
      const SymbolizedFrame& f = *it;
      frames_seen += s.count;
      frames_named += f.resolved ? s.count : 0;
      stack.frames.push_back(table.intern(f));
    }
    if (s.off_cpu_state >= 0) {  // why it was off CPU, as the leaf
      SymbolizedFrame why;
      why.name = std::string("[off-cpu: ") + offcpu_state_name(s.off_cpu_state) + "]";
      why.object = "[off-cpu]";
      why.kernel = true;
      stack.frames.push_back(table.intern(why));
    }
    p.samples += s.count;
    if (!s.user.empty()) {
      with_user += s.count;
      shallow_user += s.user.size() <= 2 ? s.count : 0;
    }
    p.processes[s.tgid] = symbols.comm(s.tgid);
    if (!stack.frames.empty()) {
      std::set<std::string> on_stack;
      for (uint32_t idx : stack.frames) {
        on_stack.insert(p.frames[idx].name);
        if (!p.frames[idx].source.empty()) shares[p.frames[idx].name].source = p.frames[idx].source;
      }
      for (const auto& name : on_stack) shares[name].total += s.count;
      shares[p.frames[stack.frames.back()].name].self += s.count;
    }
    p.stacks.push_back(std::move(stack));
  }
  p.shallow_user_pct = with_user ? 100.0 * static_cast<double>(shallow_user) / static_cast<double>(with_user) : 0;
  p.coverage_pct = frames_seen ? 100.0 * static_cast<double>(frames_named) / static_cast<double>(frames_seen) : 0;
  std::sort(p.stacks.begin(), p.stacks.end(), [](const StackCount& a, const StackCount& b) { return a.count > b.count; });
  for (auto& [name, share] : shares) {
    share.name = name;
    share.self_pct = p.samples ? 100.0 * static_cast<double>(share.self) / static_cast<double>(p.samples) : 0;
    share.total_pct = p.samples ? 100.0 * static_cast<double>(share.total) / static_cast<double>(p.samples) : 0;
    p.top.push_back(share);
  }
  std::sort(p.top.begin(), p.top.end(), [](const FunctionShare& a, const FunctionShare& b) {
    return a.self != b.self ? a.self > b.self : a.total > b.total;
  });
  if (p.top.size() > kTopFunctions) p.top.resize(kTopFunctions);
  return p;
}

void write_folded(const StackProfile& stacks, std::ostream& out) {
  for (const StackCount& s : stacks.stacks) {
    auto comm = stacks.processes.find(s.tgid);
    out << (comm != stacks.processes.end() ? comm->second : "pid-" + std::to_string(s.tgid)) << ";tid-" << s.tid;
    for (uint32_t idx : s.frames) {
      const StackFrame& f = stacks.frames[idx];
      out << ';' << f.name << (f.kernel ? "_[k]" : "");
    }
    out << ' ' << s.count << '\n';
  }
}

}  // namespace perfbpf
