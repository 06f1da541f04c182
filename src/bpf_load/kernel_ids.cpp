#include "bpf_load/kernel_ids.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <string_view>

#include "kernel_calls.h"  // bpf/kernel_calls.h

namespace perfbpf {
namespace {

#define PERFBPF_KCALL_NAME(name) #name,
constexpr const char* kKernelCalls[] = {PERFBPF_KERNEL_CALLS(PERFBPF_KCALL_NAME)};
#undef PERFBPF_KCALL_NAME
static_assert(sizeof(kKernelCalls) / sizeof(kKernelCalls[0]) == PERFBPF_KCALL_COUNT);

// A section of ours, its attach target's name in the kernel's BTF and what the program becomes.
struct Section {
  std::string_view prefix;       // "perfbpf.tp_btf/"
  std::string_view kernel_name;  // prepended to the part after '/'
  uint32_t kind;
  bpf_attach_type attach;
};
constexpr Section kTpBtf{"perfbpf.tp_btf/", "btf_trace_", BTF_KIND_TYPEDEF, BPF_TRACE_RAW_TP};
constexpr Section kIter{"perfbpf.iter/", "bpf_iter_", BTF_KIND_FUNC, BPF_TRACE_ITER};

enum Cookie : long { kCookieTpBtf = 1, kCookieIter, kCookiePerfEvent };

const Section* section_of(long cookie) {
  return cookie == kCookieTpBtf ? &kTpBtf : cookie == kCookieIter ? &kIter : nullptr;
}

// The kernel name SECTION_NAME's program attaches to under S, or empty when it is not S's.
std::string attach_name(const Section& s, std::string_view section_name) {
  if (section_name.substr(0, s.prefix.size()) != s.prefix || section_name.size() == s.prefix.size()) return {};
  return std::string(s.kernel_name) + std::string(section_name.substr(s.prefix.size()));
}

thread_local KernelIdsScope* current_scope = nullptr;

// The kfunc stand-ins of PROG's instructions (after libbpf linked its subprograms) made calls of
// the kernel functions by BTF id.
int patch_kernel_calls(bpf_program* prog, KernelIdsScope& ids) {
  const bpf_insn* insns = bpf_program__insns(prog);
  const size_t count = bpf_program__insn_cnt(prog);
  std::vector<bpf_insn> patched;
  for (size_t i = 0; i < count; i++) {
    const bpf_insn& insn = insns[i];
    if (insn.code != (BPF_JMP | BPF_CALL) || insn.src_reg != 0 || insn.imm < PERFBPF_KCALL_BASE ||
        insn.imm >= PERFBPF_KCALL_BASE + PERFBPF_KCALL_COUNT)
      continue;
    if (patched.empty()) patched.assign(insns, insns + count);
    bpf_insn& call = patched[i];
    call.src_reg = BPF_PSEUDO_KFUNC_CALL;
    call.off = 0;  // vmlinux's BTF
    call.imm = ids.id(kKernelCalls[insn.imm - PERFBPF_KCALL_BASE], BTF_KIND_FUNC);
  }
  return patched.empty() ? 0 : bpf_program__set_insns(prog, patched.data(), patched.size());
}

int prepare_load(bpf_program* prog, bpf_prog_load_opts* opts, long cookie) {
  if (!current_scope) {  // a loader that keeps no ids: read the kernel's BTF for this program
    const KernelIds none;
    KernelIdsScope scope(none);
    return prepare_load(prog, opts, cookie);
  }
  KernelIdsScope& ids = *current_scope;
  if (const Section* s = section_of(cookie)) {
    const int32_t id = ids.id(attach_name(*s, bpf_program__section_name(prog)), s->kind);
    if (id <= 0) return -ENOENT;  // the kernel has no such tracepoint or iterator
    // libbpf reads the type after this callback, for BPF_PROG_LOAD; the attach type is read by
    // bpf_program__attach_trace/_iter at attach.
    if (int err = bpf_program__set_type(prog, BPF_PROG_TYPE_TRACING)) return err;
    if (int err = bpf_program__set_expected_attach_type(prog, s->attach)) return err;
    opts->expected_attach_type = s->attach;
    opts->attach_btf_id = static_cast<uint32_t>(id);
    opts->attach_btf_obj_fd = 0;
  }
  return patch_kernel_calls(prog, ids);
}

int attach_tp_btf(const bpf_program* prog, long, bpf_link** link) {
  *link = bpf_program__attach_trace(prog);
  return *link ? 0 : -errno;
}

int attach_iter(const bpf_program* prog, long, bpf_link** link) {
  *link = bpf_program__attach_iter(prog, nullptr);
  return *link ? 0 : -errno;
}

}  // namespace

KernelIds wanted_kernel_ids(const bpf_object* object) {
  KernelIds wanted;
  bpf_program* prog = nullptr;
  while ((prog = bpf_object__next_program(object, prog))) {
    const char* section = bpf_program__section_name(prog);
    for (const Section* s : {&kTpBtf, &kIter})
      if (std::string name = attach_name(*s, section); !name.empty()) wanted.push_back({name, s->kind, 0});
  }
  for (const char* name : kKernelCalls) wanted.push_back({name, BTF_KIND_FUNC, 0});
  return wanted;
}

void resolve_kernel_ids(const btf* kernel, KernelIds& wanted) {
  for (KernelId& k : wanted) {
    const int id = btf__find_by_name_kind(kernel, k.name.c_str(), k.kind);
    k.id = id > 0 ? id : 0;
  }
}

std::string serialize_kernel_ids(const KernelIds& ids) {
  std::string out;
  for (const KernelId& k : ids) out += std::to_string(k.kind) + ' ' + std::to_string(k.id) + ' ' + k.name + '\n';
  return out;
}

bool parse_kernel_ids(std::string_view text, KernelIds& out) {
  out.clear();
  while (!text.empty()) {
    const size_t end = text.find('\n');
    if (end == std::string_view::npos) return false;
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(end + 1);
    KernelId k;
    const char* p = line.data();
    const char* const last = line.data() + line.size();
    auto kind = std::from_chars(p, last, k.kind);
    if (kind.ec != std::errc() || kind.ptr == last || *kind.ptr != ' ') return false;
    auto id = std::from_chars(kind.ptr + 1, last, k.id);
    if (id.ec != std::errc() || id.ptr == last || *id.ptr != ' ' || id.ptr + 1 == last || k.id < 0) return false;
    k.name.assign(id.ptr + 1, last);
    out.push_back(std::move(k));
  }
  return true;
}

void register_kernel_sections() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Registered as raw_tp: libbpf 1.1 loads the kernel's BTF for any TRACING program before
    // loading an object's programs; prepare_load makes them TRACING after that.
    LIBBPF_OPTS(libbpf_prog_handler_opts, tp, .cookie = kCookieTpBtf, .prog_prepare_load_fn = prepare_load,
                .prog_attach_fn = attach_tp_btf);
    LIBBPF_OPTS(libbpf_prog_handler_opts, iter, .cookie = kCookieIter, .prog_prepare_load_fn = prepare_load,
                .prog_attach_fn = attach_iter);
    LIBBPF_OPTS(libbpf_prog_handler_opts, perf, .cookie = kCookiePerfEvent, .prog_prepare_load_fn = prepare_load);
    libbpf_register_prog_handler("perfbpf.tp_btf+", BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_TRACE_RAW_TP, &tp);
    libbpf_register_prog_handler("perfbpf.iter+", BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_TRACE_ITER, &iter);
    libbpf_register_prog_handler("perfbpf.perf_event", BPF_PROG_TYPE_PERF_EVENT, BPF_PERF_EVENT, &perf);
  });
}

void KernelIdsScope::BtfFree::operator()(btf* b) const { btf__free(b); }

KernelIdsScope::KernelIdsScope(const KernelIds& ids) : ids_(ids), outer_(current_scope) { current_scope = this; }

KernelIdsScope::~KernelIdsScope() { current_scope = outer_; }

int32_t KernelIdsScope::id(const std::string& name, uint32_t kind) {
  if (name.empty()) return 0;
  for (const KernelId& k : ids_)
    if (k.kind == kind && k.name == name) return k.id;
  if (!kernel_) {
    kernel_.reset(btf__load_vmlinux_btf());
    if (!kernel_) return 0;
  }
  const int id = btf__find_by_name_kind(kernel_.get(), name.c_str(), kind);
  return id > 0 ? id : 0;
}

}  // namespace perfbpf
