// The kernel types a BPF object's CO-RE relocations resolve against, without libbpf parsing the
// kernel's whole BTF at every load (/sys/kernel/btf/vmlinux: ~5 MiB read, ~10 MiB of memory and
// ~40 ms of CPU on these machines, for a handful of struct fields).
//
// With it are kept the kernel's ids of the object's attach points and kfuncs
// (bpf_load/kernel_ids.h), so that no load of a perfbpf object reads the kernel's BTF once cached.
//
// The minimal BTF holds every kernel struct and union whose name one of the object's own types
// has (flavours like task_struct___pre514 included), each with all its members at the kernel's
// offsets and sizes, the structs and unions embedded in them likewise, and every pointer turned
// into void *: libbpf finds a relocation's target by name and walks it member by member through
// embedded types only (a pointer ends an access chain; any two pointers are compatible), so it
// computes the same offsets, sizes, bitfield shifts and existence answers as against the whole
// kernel BTF (bpftool gen min_core_btf's idea, kept coarser so it needs no private libbpf API).
// It is given to libbpf as bpf_object_open_opts.btf_custom_path.
//
// Built once per kernel and object from the kernel's BTF, then kept in the private cache
// (util/cache_dir.h: DIR is normally perfbpf_cache_directory() + "/btf"), written only through
// report/output_file.h; a cached file is used only if it is a regular file (no link followed),
// root's or the effective user's and writable by no one else, and carries a header naming this
// kernel (its build id and BTF size) and this object (a hash of its bytes) and a checksum of the
// BTF that follows, which must parse. Anything else is rebuilt and replaced.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <bpf/libbpf.h>

#include "bpf_load/kernel_ids.h"
#include "util/unique_fd.h"

struct btf;

namespace perfbpf {

enum class CoreBtfSource {
  None,   // not made (no kernel BTF, or it failed): libbpf reads the kernel's BTF itself
  Cache,  // read from the cache
  Built,  // built from the kernel's BTF now (and cached when the cache could be written)
};

class CoreBtf {
 public:
  // For the object ELF (SIZE bytes, e.g. a skeleton's elf_bytes()); never throws.
  static CoreBtf for_object(const void* elf, size_t size, const std::string& cache_dir);
  // For a bpftool skeleton's object (its OBJ_bpf__elf_bytes), with the sessions' cache.
  static CoreBtf for_skeleton(const void* (*elf_bytes)(size_t*));

  // libbpf's open options: CO-RE against the projection, or libbpf's own search without one.
  bpf_object_open_opts open_opts() const {
    LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = path());
    return opts;
  }

  // A path libbpf can open ("/proc/self/fd/N" of a sealed memory file); nullptr: none.
  const char* path() const { return path_.empty() ? nullptr : path_.c_str(); }
  CoreBtfSource source() const { return source_; }
  // The kernel's ids of the object's attach points and kfuncs (bpf_load/kernel_ids.h), cached
  // with the projection; empty with source None (the loader then reads the kernel's BTF).
  const KernelIds& ids() const { return ids_; }

 private:
  UniqueFd fd_;
  std::string path_;
  KernelIds ids_;
  CoreBtfSource source_ = CoreBtfSource::None;
};

// The projection described above, of KERNEL onto the names LOCAL (an object's BTF) uses; raw BTF
// bytes, empty when nothing matched. Exposed for tests.
std::string project_kernel_btf(const struct btf* kernel, const struct btf* local);

// Identifies the running kernel for the cache: its build id (/sys/kernel/notes) and BTF size.
std::string kernel_btf_identity();

}  // namespace perfbpf
