#include "session/probe_plan.h"

#include <algorithm>
#include <cerrno>

#include <unistd.h>
#include <map>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "perfbpf/error.h"
#include "symbols/disassembler.h"
#include "symbols/elf_symbols.h"
#include "symbols/object_kind.h"
#include "util/safe_path.h"
#include "util/unique_fd.h"

namespace perfbpf {
namespace {

bool has_glob(const std::string& spec) {
  const std::string pattern = parse_function_spec(spec).pattern;
  return pattern.find_first_of("*?[") != std::string::npos;
}

// Per file: whether it is Go, and (read only when a function needs it) its symbols by
// address, for the end of a function without a size and the .cold part gcc splits off.
class ObjectFacts {
 public:
  bool go(const std::string& path) {
    auto it = go_.find(path);
    if (it == go_.end()) it = go_.emplace(path, is_go_object(path)).first;
    return it->second;
  }
  const ElfSymbols* symbols(const std::string& path) {
    auto it = symbols_.find(path);
    if (it != symbols_.end()) return it->second.get();
    std::unique_ptr<ElfSymbols> loaded;
    try {
      loaded = std::make_unique<ElfSymbols>(ElfSymbols::load(path));
    } catch (const Error&) {
    }
    return symbols_.emplace(path, std::move(loaded)).first->second.get();
  }
  // Up to SIZE bytes of PATH's code at FILE_OFFSET; how many were read (0: none). The file is
  // opened once for all its functions: 100 000 functions opened it 200 000 times (60 % of the
  // plan's time).
  size_t code(const std::string& path, uint64_t file_offset, uint8_t* out, size_t size) {
    auto it = fds_.find(path);
    if (it == fds_.end()) it = fds_.emplace(path, UniqueFd(open_regular_file(path))).first;
    if (!it->second) return 0;
    ssize_t n = pread(it->second.get(), out, size, static_cast<off_t>(file_offset));
    return n > 0 ? static_cast<size_t>(n) : 0;
  }
  // libcapstone, loaded at the first function whose code is decoded and kept for the rest of
  // the plan: a plan that decodes none (C code, no --return-sites, entries at NOP5 or emulated
  // sites) never maps it: ~4.7 MiB resident, the peak of such a session's memory, ~2 ms.
  void need_disassembler() {
    if (!disassembler_) disassembler_.emplace();
  }

 private:
  std::optional<Disassembler> disassembler_;
  std::map<std::string, UniqueFd> fds_;
  std::map<std::string, bool> go_;
  std::map<std::string, std::unique_ptr<ElfSymbols>> symbols_;
};

ProbeSite probe_site_at(ObjectFacts& facts, const std::string& path, uint64_t file_offset) {
  uint8_t bytes[16] = {};
  const size_t n = facts.code(path, file_offset, bytes, sizeof bytes);
  return n ? classify_probe_site(bytes, n) : ProbeSite{};
}

std::string refusal_at(ObjectFacts& facts, const std::string& path, uint64_t file_offset) {
  uint8_t bytes[16] = {};
  const size_t n = facts.code(path, file_offset, bytes, sizeof bytes);
  return n ? uprobe_refusal(bytes, n) : "its code cannot be read";
}

// Bytes from F to the next function in the file, for a symbol without st_size.
uint64_t size_to_next_symbol(const ElfSymbols* symbols, const ElfFunction& f) {
  if (!symbols) return 0;
  uint64_t next = 0;
  for (const auto& g : symbols->functions())
    if (g.address > f.address && (next == 0 || g.address < next)) next = g.address;
  return next ? next - f.address : 0;
}

const ElfFunction* cold_part(const ElfSymbols* symbols, const ElfFunction& f) {
  if (!symbols) return nullptr;
  for (const auto& g : symbols->functions())
    if (g.name == f.name + ".cold") return &g;
  return nullptr;
}

void add_exits(PlannedProbe& p, const FunctionCode& code, uint64_t range_file_offset, uint64_t range_size) {
  for (const ExitSite& site : code.exits) p.exits.push_back({site, range_file_offset + site.offset, range_size});
}

// Why the return sites of P cannot be probed, or "" once they are all in P.exits. SIZE: of
// the function (from the next symbol when it has none).
std::string find_return_sites(PlannedProbe& p, const FunctionCode& code, uint64_t size, ObjectFacts& facts,
                              bool look_for_cold) {
  const ElfFunction& f = p.target.function;
  if (!code.decoded) return "its returns cannot be found: " + code.problem;
  const ElfFunction* cold = p.go || !look_for_cold ? nullptr : cold_part(facts.symbols(p.target.attach_path), f);
  if (!cold) {
    add_exits(p, code, f.file_offset, size);
  } else {
    // gcc's .cold part: jumps between the parts stay in the function. Its state at the
    // jump is not followed, so its own exits are checked at run time.
    CodeContext hot_ctx, cold_ctx;
    hot_ctx.same_function = {{cold->address, cold->size}};
    cold_ctx.at_entry = false;
    cold_ctx.same_function = {{f.address, size}};
    FunctionCode hot = analyze_function_in_file(p.target.attach_path, f.file_offset, size, f.address, hot_ctx);
    FunctionCode cold_code =
        analyze_function_in_file(p.target.attach_path, cold->file_offset, cold->size, cold->address, cold_ctx);
    if (!hot.decoded || !cold_code.decoded)
      return "the returns of it and its .cold part cannot be found: " + hot.problem + cold_code.problem;
    add_exits(p, hot, f.file_offset, size);
    add_exits(p, cold_code, cold->file_offset, cold->size);
  }
  for (const ExitProbe& e : p.exits)
    if (!e.site.refusal.empty())
      return fmt::format("its {} at +{:#x} cannot be probed: {}", exit_kind_name(e.site.kind),
                         e.file_offset - f.file_offset, e.site.refusal);
  return "";
}

// Plans one function; returns why it cannot be probed ("" when P is ready). FORCED: the
// method for calibration, whatever the function; ALL_RETURN_SITES: --return-sites.
std::string plan_one(PlannedProbe& p, const std::string& exceptions_reason, ObjectFacts& facts,
                     const ProbeMethod* forced, bool all_return_sites) {
  ProbeTarget& t = p.target;
  p.go = !forced && facts.go(t.attach_path);
  const bool need_code = forced ? *forced == ProbeMethod::ReturnSites
                                : p.go || !exceptions_reason.empty() || all_return_sites;
  FunctionCode code;
  uint64_t size = t.function.size;
  if (need_code) {
    facts.need_disassembler();
    if (!size) size = size_to_next_symbol(facts.symbols(t.attach_path), t.function);
    CodeContext ctx;
    ctx.go = p.go;
    code = analyze_function_in_file(t.attach_path, t.function.file_offset, size, t.function.address, ctx);
  }
  // Entry: the cheapest instruction every call runs through (probe_site.h); for Go, the one
  // past the stack-bound check, which morestack would otherwise make run twice per call.
  if (p.go && code.go_entry_offset) {
    p.site = probe_site_at(facts, t.attach_path, t.function.file_offset + code.go_entry_offset);
    p.site.offset_in_function = code.go_entry_offset;
  } else {
    p.site = probe_site_at(facts, t.attach_path, t.function.file_offset);
  }
  p.entry_offset = t.function.file_offset + p.site.offset_in_function;
  // A site the kernel optimizes or emulates (probe_site.h) is one it probes; only other first
  // instructions are decoded for those uprobes refuse.
  if (p.site.kind == ProbeSiteKind::SingleStepped) {
    facts.need_disassembler();
    if (std::string why = refusal_at(facts, t.attach_path, p.entry_offset); !why.empty())
      return "the kernel cannot probe its first instruction: " + why;
  }

  if (forced) {
    p.method = *forced;
    p.method_reason = "forced";
  } else if (p.go) {
    p.method = ProbeMethod::ReturnSites;
    p.method_reason = "Go code: goroutines move between threads and their stacks are copied";
  } else if (!exceptions_reason.empty() && (code.makes_calls || !code.decoded)) {
    p.method = ProbeMethod::ReturnSites;
    p.method_reason = "a C++ exception can pass through it (" + exceptions_reason + ")";
  } else if (all_return_sites) {
    p.method = ProbeMethod::ReturnSites;
    p.method_reason = "--return-sites";
  } else {
    p.method = ProbeMethod::Uretprobe;
    p.method_reason = exceptions_reason.empty() ? "no C++ exceptions or Go in the process"
                                                : "it calls nothing: no exception can pass through it";
  }
  if (p.method == ProbeMethod::ReturnSites) return find_return_sites(p, code, size, facts, !forced);
  return "";
}

}  // namespace

const char* probe_method_name(ProbeMethod method) {
  return method == ProbeMethod::ReturnSites ? "return-sites" : "uretprobe";
}

ProbePlan plan_probes(const std::vector<ProbeTarget>& targets, const std::string& exceptions_reason,
                      bool all_return_sites) {
  ProbePlan plan;
  ObjectFacts facts;  // libcapstone, if a function needs it, is unloaded with it
  for (const ProbeTarget& t : targets) {
    PlannedProbe p;
    p.target = t;
    std::string why = plan_one(p, exceptions_reason, facts, nullptr, all_return_sites);
    if (why.empty())
      plan.probes.push_back(std::move(p));
    else
      plan.skipped.push_back({t.function.demangled, t.object, why, t.spec});
  }
  reject_unprobeable(plan.skipped, targets);
  return plan;
}

PlannedProbe plan_probe(const ProbeTarget& target, ProbeMethod method) {
  ObjectFacts facts;
  PlannedProbe p;
  p.target = target;
  if (std::string why = plan_one(p, "", facts, &method, false); !why.empty())
    throw Error("cannot probe " + target.function.demangled + ": " + why, "", EINVAL);
  return p;
}

void reject_unprobeable(const std::vector<SkippedFunction>& skipped, const std::vector<ProbeTarget>& matched) {
  for (const SkippedFunction& s : skipped) {
    if (!has_glob(s.spec))
      throw Error("cannot probe " + s.name + " in " + s.object + ": " + s.reason,
                  "perfbpf skips such functions when a glob matches them; time its callers instead", ENOTSUP);
    size_t of_spec = std::count_if(matched.begin(), matched.end(), [&](const ProbeTarget& t) { return t.spec == s.spec; });
    size_t skipped_of_spec =
        std::count_if(skipped.begin(), skipped.end(), [&](const SkippedFunction& k) { return k.spec == s.spec; });
    if (of_spec == skipped_of_spec)
      throw Error(fmt::format("none of the {} function{} matching '{}' can be probed; {}: {}", of_spec,
                              of_spec == 1 ? "" : "s", s.spec, s.name, s.reason),
                  "narrow or change the -f pattern", ENOTSUP);
  }
}

}  // namespace perfbpf
