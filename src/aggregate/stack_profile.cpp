#include "aggregate/stack_profile.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "symbols/elf_file.h"

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

bool starts_with_any(const std::string& name, std::initializer_list<const char*> prefixes) {
  for (const char* prefix : prefixes)
    if (name.rfind(prefix, 0) == 0) return true;
  return false;
}

bool is_tracing_glue(const std::string& name) {
  return starts_with_any(name, {"bpf_prog_", "bpf_trace_run", "__bpf_trace_", "__traceiter_", "bpf_get_stack"});
}

// The special mappings a probed thread runs in: the slot where a single-stepped instruction
// executes out of line, and the trampolines of optimized probes and of return probes.
bool is_uprobe_area(const SymbolizedFrame& f) {
  return !f.kernel && (f.name == "[uprobes]" || f.name == "[uprobes-trampoline]");
}

// Kernel functions only the uprobe machinery runs (kernel/events/uprobes.c, trace_uprobe.c, the
// uprobe_multi link and arch/x86/kernel/uprobes.c); the BPF programs a probe runs are below them.
bool is_uprobe_function(const std::string& name) {
  return starts_with_any(name, {"uprobe_", "uretprobe_", "arch_uprobe_", "arch_uretprobe_", "handle_swbp",
                                "handle_singlestep", "handle_syscall_uprobe", "handle_uretprobe", "find_active_uprobe",
                                "hprobe_", "__do_sys_uprobe", "__do_sys_uretprobe", "__x64_sys_uprobe",
                                "__x64_sys_uretprobe", "__arm64_sys_uprobe", "__arm64_sys_uretprobe"});
}

// Whether a sample was taken in a probe's trap path rather than in the program's own code:
// running in the uprobe area, a breakpoint or single-step trap entered from user code (a
// uprobe's int3, and the trap after its instruction ran out of line; the handling then runs
// on the way back to user mode, in irqentry_exit_to_user_mode, where the thread may also be
// preempted once its instruction pointer is back in the program), or any uprobe handler on
// the kernel stack. KERNEL is leaf first, as captured.
bool through_probe(const std::vector<SymbolizedFrame>& user, const std::vector<SymbolizedFrame>& kernel) {
  if (!user.empty() && is_uprobe_area(user.back())) return true;
  if (!kernel.empty() && (kernel.back().name == "asm_exc_int3" || kernel.back().name == "asm_exc_debug")) return true;
  return std::any_of(kernel.begin(), kernel.end(), [](const SymbolizedFrame& f) { return is_uprobe_function(f.name); });
}

// Frames without a name in a row (a stripped library's internals, or a walk gone astray) say
// nothing one by one: they become one frame, "[OBJECT+unknown]" after the outermost's file, so
// a flame graph shows one box where it had a tower of "[unknown]". USER is root first.
std::vector<SymbolizedFrame> collapse_unnamed(std::vector<SymbolizedFrame> user) {
  std::vector<SymbolizedFrame> out;
  size_t run = 0;  // unnamed frames in a row at out's end
  for (SymbolizedFrame& f : user) {
    if (f.resolved) {
      run = 0;
      out.push_back(std::move(f));
      continue;
    }
    if (++run == 2) {
      std::string object = out.back().object;
      object = object.substr(object.rfind('/') + 1);
      if (object.size() > 1 && object.front() == '[' && object.back() == ']') object = object.substr(1, object.size() - 2);
      out.back().name = "[" + (object.empty() ? std::string("unknown") : object + "+unknown") + "]";
    }
    if (run == 1) out.push_back(std::move(f));
  }
  return out;
}

SymbolizedFrame marker_frame(const std::string& name, const std::string& object) {
  SymbolizedFrame f;
  f.name = name;
  f.object = object;
  f.resolved = true;
  return f;
}

}  // namespace

StackProfile build_stack_profile(const std::vector<RawStackSample>& samples, Symbolizer& symbols,
                                 unsigned frequency_hz, bool own_probes) {
  StackProfile p;
  p.enabled = true;
  p.frequency_hz = frequency_hz;
  FrameTable table(p.frames);
  uint64_t frames_seen = 0, frames_named = 0, with_user = 0, shallow_user = 0;
  std::map<std::string, FunctionShare> shares;
  SymbolizedFrame probe_frame;
  probe_frame.name = own_probes ? kPerfbpfProbeFrame : kOtherUprobeFrame;
  probe_frame.object = own_probes ? "[perfbpf]" : "[uprobes]";
  probe_frame.kernel = true;
  probe_frame.resolved = true;
  // Samples at different addresses of the same functions are one stack once symbolized.
  std::map<std::tuple<uint32_t, uint32_t, std::vector<uint32_t>>, size_t> stack_index;
  // Every frame named up front: kernel addresses in one pass, user ones binary by binary (each
  // binary's DWARF released before the next's is read).
  std::vector<uint64_t> kernel_ips;
  std::vector<Symbolizer::UserAddress> user_ips;
  for (const RawStackSample& s : samples) {
    kernel_ips.insert(kernel_ips.end(), s.kernel.begin(), s.kernel.end());
    for (size_t i = 0; i < s.user.size(); i++) user_ips.push_back({s.tgid, s.user[i], /*leaf=*/i == 0});
  }
  symbols.name_kernel_frames(kernel_ips);
  symbols.name_user_frames(user_ips);
  for (const RawStackSample& s : samples) {
    StackCount stack;
    stack.tgid = s.tgid;
    stack.tid = s.tid;
    stack.count = s.count;
    // Root first: the user stack from main down, then the kernel stack it trapped into.
    std::vector<SymbolizedFrame> user;
    // A walk that stopped at the end of the copied stack: its root is not the thread's.
    if (s.user_truncated) user.push_back(marker_frame(kTruncatedFrame, "[truncated]"));
    for (auto it = s.user.rbegin(); it != s.user.rend(); ++it)
      for (const SymbolizedFrame& f : symbols.user_frames(s.tgid, *it, /*leaf=*/it == s.user.rend() - 1))
        user.push_back(f);
    user = collapse_unnamed(std::move(user));
    std::vector<SymbolizedFrame> kernel;
    for (uint64_t ip : s.kernel) kernel.push_back(symbols.kernel_frame(ip));
    // A probe's trap path is the probe's cost: one frame under the code that hit it, instead
    // of the trap, the handlers and the BPF programs (irqentry_exit_to_user_mode would read as
    // the program's hottest function).
    const bool probe = through_probe(user, kernel);
    if (probe) {
      while (!user.empty() && is_uprobe_area(user.back())) user.pop_back();
      kernel.clear();
      p.probe_samples += s.count;
    }
    for (const SymbolizedFrame& f : user) {
      frames_seen += s.count;
      frames_named += f.resolved ? s.count : 0;
      stack.frames.push_back(table.intern(f));
    }
    // A stack captured in a tracepoint handler starts with perfbpf's own program and the
    // tracing glue: those frames describe the observer, not the thread.
    size_t own = 0;
    while (own < kernel.size() && is_tracing_glue(kernel[own].name)) own++;
    for (auto it = kernel.rbegin(); it != kernel.rend() - static_cast<long>(own); ++it) {
      const SymbolizedFrame& f = *it;
      frames_seen += s.count;
      frames_named += f.resolved ? s.count : 0;
      stack.frames.push_back(table.intern(f));
    }
    if (probe) stack.frames.push_back(table.intern(probe_frame));
    if (s.off_cpu_state >= 0) {  // why it was off CPU, as the leaf
      // perfbpf's label, not a kernel function: no "_[k]" on it.
      stack.frames.push_back(table.intern(
          marker_frame(std::string("[off-cpu: ") + offcpu_state_name(s.off_cpu_state) + "]", "[off-cpu]")));
    }
    p.samples += s.count;
    if (s.user_truncated) p.truncated_samples += s.count;
    if (!s.user.empty()) {
      with_user += s.count;
      shallow_user += s.user.size() <= 2 ? s.count : 0;
    }
    p.processes[s.tgid] = symbols.comm(s.tgid);
    if (!stack.frames.empty() && !probe) {  // the shares are of the program's own samples
      std::set<std::string> on_stack;
      for (uint32_t idx : stack.frames) {
        on_stack.insert(p.frames[idx].name);
        if (!p.frames[idx].source.empty()) shares[p.frames[idx].name].source = p.frames[idx].source;
      }
      for (const auto& name : on_stack) shares[name].total += s.count;
      shares[p.frames[stack.frames.back()].name].self += s.count;
    }
    auto [at, added] = stack_index.try_emplace(std::make_tuple(stack.tgid, stack.tid, stack.frames), p.stacks.size());
    if (added) p.stacks.push_back(std::move(stack));
    else p.stacks[at->second].count += stack.count;
  }
  p.shallow_user_pct = with_user ? 100.0 * static_cast<double>(shallow_user) / static_cast<double>(with_user) : 0;
  p.coverage_pct = frames_seen ? 100.0 * static_cast<double>(frames_named) / static_cast<double>(frames_seen) : 0;
  std::sort(p.stacks.begin(), p.stacks.end(), [](const StackCount& a, const StackCount& b) { return a.count > b.count; });
  const double program = static_cast<double>(p.samples - p.probe_samples);
  for (auto& [name, share] : shares) {
    share.name = name;
    share.self_pct = program > 0 ? 100.0 * static_cast<double>(share.self) / program : 0;
    share.total_pct = program > 0 ? 100.0 * static_cast<double>(share.total) / program : 0;
    p.top.push_back(share);
  }
  std::sort(p.top.begin(), p.top.end(), [](const FunctionShare& a, const FunctionShare& b) {
    return a.self != b.self ? a.self > b.self : a.total > b.total;
  });
  if (p.top.size() > kTopFunctions) p.top.resize(kTopFunctions);
  for (const StackFrame& f : p.frames)
    if (!f.kernel && !f.object.empty() && f.object[0] == '/' && !p.build_ids.count(f.object)) {
      ElfHandle elf(f.object);
      p.build_ids[f.object] = elf.elf ? gnu_build_id(elf.elf) : "";
    }
  std::erase_if(p.build_ids, [](const auto& entry) { return entry.second.empty(); });
  return p;
}

void write_folded(const StackProfile& stacks, std::ostream& out, const FoldedOptions& options) {
  // One line per distinct text: without the thread, a process's threads (and processes of one
  // name) running the same code merge, as flamegraph.pl expects its input.
  std::map<std::string, uint64_t> lines;
  std::vector<const std::string*> order;  // first-seen order: the stacks come heaviest first
  for (const StackCount& s : stacks.stacks) {
    auto comm = stacks.processes.find(s.tgid);
    std::string line = options.prefix;
    line += comm != stacks.processes.end() ? comm->second : "pid-" + std::to_string(s.tgid);
    if (options.per_thread) line += ";tid-" + std::to_string(s.tid);
    for (uint32_t idx : s.frames) {
      const StackFrame& f = stacks.frames[idx];
      line += ';';
      line += f.name;
      if (f.kernel) line += "_[k]";
    }
    auto [it, added] = lines.try_emplace(std::move(line), 0);
    it->second += s.count;
    if (added) order.push_back(&it->first);
  }
  std::vector<std::pair<const std::string*, uint64_t>> sorted;
  for (const std::string* line : order) sorted.emplace_back(line, lines[*line]);
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [line, count] : sorted) out << *line << ' ' << count << '\n';
}

}  // namespace perfbpf
