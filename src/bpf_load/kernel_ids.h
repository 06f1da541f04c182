// Loading perfbpf's BPF programs that attach by the kernel's BTF ids or call kernel functions
// without libbpf parsing the kernel's whole BTF (bpf/kernel_calls.h says why and how the objects
// are written). Here: the ids an object needs, found once in the kernel's BTF (and cached with
// the CO-RE projection, bpf_load/core_btf.h), and libbpf handlers for perfbpf's sections that
// give them to the kernel at load:
// - "perfbpf.tp_btf/NAME": a tp_btf program (BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP) attached
//   to the kernel's typedef btf_trace_NAME;
// - "perfbpf.iter/NAME": an iter program (BPF_TRACE_ITER) on the kernel's func bpf_iter_NAME;
// - "perfbpf.perf_event": a perf_event program (attached by the caller, as libbpf's).
// In each, the kfunc stand-ins (calls of PERFBPF_KCALL_BASE + N) become kfunc calls by id.
//
// The handlers take the ids of the KernelIdsScope active on the loading thread; a name the
// scope's table lacks (or a load outside any scope) is looked up in the kernel's BTF, read then
// and kept until the scope ends: slower, never wrong. Only vmlinux's BTF is searched (every
// tracepoint, iterator and kfunc perfbpf uses is built in).
//
// libbpf's own steps are kept: the handlers make libbpf see these programs as raw_tp (so it does
// not load the kernel's BTF for them) until its last step before BPF_PROG_LOAD, where they set
// the real type. Written against libbpf 1.1's order of those steps (Debian 12).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct bpf_object;
struct btf;

namespace perfbpf {

// One name the kernel's BTF is searched for: KIND is BTF_KIND_TYPEDEF or BTF_KIND_FUNC; ID is
// the kernel's type id, 0 when the running kernel has no such name.
struct KernelId {
  std::string name;
  uint32_t kind = 0;
  int32_t id = 0;
  bool operator==(const KernelId& o) const { return name == o.name && kind == o.kind && id == o.id; }
};
using KernelIds = std::vector<KernelId>;

// The names OBJECT's programs need (from their section names) and every kfunc of
// bpf/kernel_calls.h, with id 0 (resolve_kernel_ids fills them in).
KernelIds wanted_kernel_ids(const struct bpf_object* object);

// Fills in the ids of WANTED from KERNEL (the kernel's BTF).
void resolve_kernel_ids(const struct btf* kernel, KernelIds& wanted);

// Text form for the cache ("KIND ID NAME" lines) and back; parse returns false on malformed text.
std::string serialize_kernel_ids(const KernelIds& ids);
bool parse_kernel_ids(std::string_view text, KernelIds& out);

// Registers the handlers of perfbpf's sections with libbpf (once per process). Called before
// opening any object that has them (CoreBtf::for_object does it).
void register_kernel_sections();

// The ids the section handlers use for loads on this thread while it lives (scopes nest: the
// innermost wins). IDS must outlive the scope.
class KernelIdsScope {
 public:
  explicit KernelIdsScope(const KernelIds& ids);
  ~KernelIdsScope();
  KernelIdsScope(const KernelIdsScope&) = delete;
  KernelIdsScope& operator=(const KernelIdsScope&) = delete;

  // NAME's id: from the table, else from the kernel's BTF (read on first need); 0 if absent.
  int32_t id(const std::string& name, uint32_t kind);
  // Whether this scope had to read the kernel's BTF (tests: a warm cache never does).
  bool read_kernel_btf() const { return kernel_ != nullptr; }

 private:
  struct BtfFree {
    void operator()(struct btf* b) const;
  };
  const KernelIds& ids_;
  std::unique_ptr<struct btf, BtfFree> kernel_;
  KernelIdsScope* outer_;
};

}  // namespace perfbpf
