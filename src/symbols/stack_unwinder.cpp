#include "symbols/stack_unwinder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "session/system_info.h"
#include "symbols/elf_file.h"
#include "symbols/lazy_library.h"
#include "symbols/symbolizer.h"
#include "util/safe_path.h"

namespace perfbpf {
namespace {

// A process's mappings re-read at most this often when a sample lands outside them: often
// enough to catch a young process's libraries as the loader maps them.
constexpr uint64_t kResnapshotNs = 10'000'000;

}  // namespace

struct StackUnwinder::Sample {
  const StackCopy* copy = nullptr;
  bool read_past_copy = false;  // the walk wanted memory the copy does not hold
  std::vector<uint64_t>* frames = nullptr;
  size_t max_frames = 0;
};

// A binary opened and mapped once (libelf, as libdwfl maps a module's file: private, read-only
// use) for the Dwfls of every process that maps it; each module holds a reference of libelf's
// own count (find_shared_elf), the processes' `files` hold this. Before, each process's Dwfl
// opened and mapped its binaries again: on a fork-heavy machine, 256 mappings of the same few
// files, whose CFI pages each counted again in perfbpf's RSS (23.5 of 43 MiB of a --system
// session beside stress-ng --fork).
struct StackUnwinder::SharedFile {
  int fd = -1;
  Elf* elf = nullptr;
  std::vector<Segment> segments;
  // The module's extent before its load bias, as libdwfl takes it from a file it opens itself:
  // from the first PT_LOAD aligned down (libdwfl's bias is the module's start minus this) to
  // the end of the last.
  uint64_t low = 0, high = 0;
  ~SharedFile() {
    if (elf) elf_end(elf);
    if (fd >= 0) close(fd);
  }
};

struct StackUnwinder::Process {
  Dwfl* dwfl = nullptr;
  bool attached = false;
  uint64_t generation = ~uint64_t{0};  // of the Symbolizer's mappings last reported
  uint64_t last_use = 0;
  uint64_t last_snapshot_ns = 0;
  Sample* sample = nullptr;  // the one being unwound
  std::map<std::string, uint64_t> reported;  // files reported to dwfl, by path, with their bias
  std::vector<std::shared_ptr<SharedFile>> files;  // what its modules map (released after dwfl_end)
  size_t debug_files = 0;  // separate debug files its modules took (for .debug_frame)
  ~Process() {
    if (dwfl) libdw().dwfl_end(dwfl);
  }
};

namespace {

using Process = StackUnwinder::Process;
using SharedFile = StackUnwinder::SharedFile;

// Where FILE (mapped at M) is loaded: its load bias, from the segment holding M's offset.
bool load_bias(const SharedFile& file, const MapEntry& m, uint64_t& bias) {
  for (const Segment& s : file.segments) {
    // Segments need not start on a page; their mapping does.
    if ((s.offset & ~uint64_t{0xfff}) <= m.offset && m.offset < s.offset + s.filesz) {
      bias = m.start - (m.offset + s.vaddr - s.offset);
      return true;
    }
  }
  return false;
}

// libdwfl asks for a reported module's ELF when it first needs it: another reference to the
// shared file's (libelf counts them; the module's elf_end drops its own). No descriptor is
// handed over, so no module closes the shared one.
int find_shared_elf(Dwfl_Module*, void** userdata, const char*, Dwarf_Addr, char**, Elf** elfp) {
  const auto* file = static_cast<const SharedFile*>(*userdata);
  if (file) *elfp = elf_begin(-1, ELF_C_READ_MMAP_PRIVATE, file->elf);
  return -1;
}

pid_t next_thread(Dwfl*, void* arg, void** thread_arg) {
  if (*thread_arg) return 0;  // one thread: the sampled one
  *thread_arg = arg;
  return static_cast<pid_t>(static_cast<Process*>(arg)->sample->copy->tid);
}

bool get_thread(Dwfl*, pid_t, void* arg, void** thread_arg) {
  *thread_arg = arg;
  return true;
}

// Only the copied stack is memory here: the target is never read live (it may be gone).
bool memory_read(Dwfl*, Dwarf_Addr addr, Dwarf_Word* result, void* arg) {
  auto* s = static_cast<Process*>(arg)->sample;
  const StackCopy& c = *s->copy;
  // In offsets from the copy's start: a garbage CFA near the top of the address space must not
  // wrap "addr + 8" past the check into a wild read (the agent died of it, SIGSEGV here).
  if (addr < c.start || c.size < sizeof(uint64_t) || addr - c.start > c.size - sizeof(uint64_t)) {
    // Above the copy is where the stack goes on; below sp nothing the walk needs.
    if (addr >= c.start) s->read_past_copy = true;
    return false;
  }
  std::memcpy(result, c.stack + (addr - c.start), sizeof(uint64_t));
  return true;
}

bool set_initial_registers(Dwfl_Thread* thread, void* arg) {
  auto* s = static_cast<Process*>(arg)->sample;
  Dwarf_Word regs[UserRegs::kCount];
  std::copy(std::begin(s->copy->regs->r), std::end(s->copy->regs->r), regs);
  return libdw().dwfl_thread_state_registers(thread, 0, UserRegs::kCount, regs);
}

const Dwfl_Thread_Callbacks kThreadCallbacks = {next_thread, get_thread, memory_read, set_initial_registers,
                                                nullptr, nullptr};

// The unwinder and process whose Dwfl is at work on this thread (find_debuginfo has no
// argument of ours).
struct DebugBudget {
  StackUnwinder::Process* process = nullptr;
  size_t* taken = nullptr;  // debug files held by all the unwinder's processes
  size_t* refused = nullptr;
  size_t max = 0;
};
thread_local DebugBudget current_budget;

// libdwfl asks for a separate debug file when a module's .eh_frame has no entry for a pc, to
// read its .debug_frame; to read that it loads the file's whole DWARF, decompressing every
// section (some 10 MB for libc's), and again in each process's Dwfl. Debian's x86-64 debug
// files carry no .debug_frame (the CFI is the binary's own .eh_frame): a file is taken only
// when it has one, and only so many at once. Only the local build-id file is looked for:
// libdwfl's standard search would also start a debuginfod client (process-wide curl state,
// and with DEBUGINFOD_URLS set a network fetch in the middle of unwinding a sample).
int find_debug_frame(Dwfl_Module* mod, void**, const char*, Dwarf_Addr, const char*, const char*, GElf_Word,
                     char** debuginfo_file_name) {
  DebugBudget& b = current_budget;
  const unsigned char* bits = nullptr;
  GElf_Addr vaddr = 0;
  const int n = libdw().dwfl_module_build_id(mod, &bits, &vaddr);
  if (!b.process || n < 2) return -1;
  std::string path = "/usr/lib/debug/.build-id/";
  for (int i = 0; i < n; i++) path += fmt::format("{}{:02x}", i == 1 ? "/" : "", bits[i]);
  path += ".debug";
  int fd = open_regular_file(path);
  if (fd < 0) return -1;
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  const bool has_debug_frame = elf && find_section(elf, ".debug_frame") != nullptr;
  if (elf) elf_end(elf);
  if (!has_debug_frame || *b.taken >= b.max) {
    close(fd);
    ++*b.refused;
    return -1;
  }
  *debuginfo_file_name = strdup(path.c_str());
  ++*b.taken;
  b.process->debug_files++;
  return fd;
}

char* no_debuginfo_path = nullptr;
// Built at the first Dwfl: its section_address is libdw's own, and libdw is loaded only then.
const Dwfl_Callbacks* dwfl_callbacks() {
  static const Dwfl_Callbacks callbacks = {
      find_shared_elf,   // find_elf: the module's shared file
      find_debug_frame,  // .debug_frame from a debug file, when it has one and .eh_frame lacks the pc
      libdw().dwfl_offline_section_address, &no_debuginfo_path};
  return &callbacks;
}

int on_frame(Dwfl_Frame* frame, void* arg) {
  auto* s = static_cast<Process*>(arg)->sample;
  Dwarf_Addr pc = 0;
  if (!libdw().dwfl_frame_pc(frame, &pc, nullptr)) return DWARF_CB_ABORT;
  if (s->frames->size() >= s->max_frames) return DWARF_CB_ABORT;
  s->frames->push_back(pc);
  return DWARF_CB_OK;
}

// The host's own ELF: dwfl_attach_state takes the architecture from it when a process has no
// module (yet) to take it from.
Elf* host_elf() {
  static Elf* elf = [] {
    elf_version(EV_CURRENT);
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    return fd < 0 ? nullptr : elf_begin(fd, ELF_C_READ_MMAP, nullptr);  // kept for the process's life
  }();
  return elf;
}

}  // namespace

StackUnwinder::StackUnwinder(Symbolizer& symbols, size_t max_frames, UnwinderLimits limits)
    : symbols_(symbols), max_frames_(max_frames), limits_(limits) {}
StackUnwinder::~StackUnwinder() = default;

StackUnwinder::Stats StackUnwinder::stats() const {
  Stats s = stats_;
  s.processes_cached = processes_.size();
  s.modules_open = 0;
  s.debug_files = 0;
  for (const auto& [tgid, p] : processes_) {
    s.modules_open += p->reported.size();
    s.debug_files += p->debug_files;
  }
  s.debug_files_refused = debug_refused_;
  return s;
}

// The file to read mapping M through: the very file mapped (/proc/PID/map_files, any mount
// namespace, a deleted file too) while the process lives, else what the Symbolizer holds or
// finds. Not Symbolizer::object_file() first: that reads the file's whole symbol table, and
// the unwinder wants only its CFI (the symbolizer reads the tables of the files samples land in).
std::string StackUnwinder::module_file(uint32_t tgid, const MapEntry& m) {
  const std::string link = fmt::format("/proc/{}/map_files/{:x}-{:x}", tgid, m.start, m.end);
  if (access(link.c_str(), R_OK) == 0) return link;
  return symbols_.object_file(tgid, m);
}

// The process's Dwfl with every file it maps reported: read at its first sample, and again
// (at most every kResnapshotNs) when PC cannot be named from what is known (a library loaded
// since, or JIT code whose /tmp/perf-PID.map entry was written after the last read).
StackUnwinder::Process* StackUnwinder::process(uint32_t tgid, uint64_t pc) {
  auto& slot = processes_[tgid];
  if (!slot) slot = std::make_unique<Process>();
  Process* p = slot.get();
  p->last_use = ++uses_;
  const uint64_t now = monotonic_ns();
  if ((!symbols_.has_snapshot(tgid) || !symbols_.names_address(tgid, pc)) && now - p->last_snapshot_ns > kResnapshotNs) {
    p->last_snapshot_ns = now;
    symbols_.snapshot(tgid);
  }
  const uint64_t generation = symbols_.maps_generation(tgid);
  if (generation != p->generation || !p->dwfl) {
    p->generation = generation;
    // The files it maps now, each with its load bias.
    std::map<std::string, std::pair<std::shared_ptr<SharedFile>, uint64_t>> wanted;  // path -> (file, bias)
    if (const auto* maps = symbols_.mappings(tgid)) {
      for (const MapEntry& m : *maps) {
        if (m.path.empty() || m.path[0] != '/' || m.perms.find('x') == std::string::npos || wanted.count(m.path)) continue;
        std::shared_ptr<SharedFile> file = shared_file(module_file(tgid, m));
        uint64_t bias = 0;
        if (file && load_bias(*file, m, bias)) wanted[m.path] = {std::move(file), bias};
      }
    }
    // libdwfl keeps what it was told: only new files are added (their CFI is parsed once); a
    // file gone or moved (dlclose, exec) means a fresh Dwfl.
    bool only_added = p->dwfl != nullptr;
    for (const auto& [path, at] : p->reported) {
      auto w = wanted.find(path);
      if (w == wanted.end() || w->second.second != at) only_added = false;
    }
    if (!only_added) {
      if (p->dwfl) libdw().dwfl_end(p->dwfl);
      p->dwfl = libdw().dwfl_begin(dwfl_callbacks());
      p->attached = false;
      p->reported.clear();
      p->files.clear();
      if (!p->dwfl) return nullptr;
    }
    libdw().dwfl_report_begin_add(p->dwfl);
    for (const auto& [path, w] : wanted) {
      if (p->reported.count(path)) continue;
      // The extent dwfl_report_elf would give it; its ELF comes from find_shared_elf.
      const SharedFile& file = *w.first;
      Dwfl_Module* mod = libdw().dwfl_report_module(p->dwfl, path.c_str(), file.low + w.second, file.high + w.second);
      if (!mod) continue;
      void** userdata = nullptr;
      libdw().dwfl_module_info(mod, &userdata, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
      *userdata = w.first.get();
      p->reported[path] = w.second;
      p->files.push_back(w.first);
    }
    libdw().dwfl_report_end(p->dwfl, nullptr, nullptr);
  }
  evict(tgid);
  if (!p->attached) {
    if (!libdw().dwfl_attach_state(p->dwfl, host_elf(), static_cast<pid_t>(tgid), &kThreadCallbacks, p)) return nullptr;
    p->attached = true;
  }
  return p;
}

void StackUnwinder::evict(uint32_t keep) {
  auto modules = [this] {
    size_t n = 0;
    for (const auto& [tgid, p] : processes_) n += p->reported.size();
    return n;
  };
  while (processes_.size() > 1 && (processes_.size() > limits_.max_processes || modules() > limits_.max_modules)) {
    auto oldest = processes_.end();
    for (auto it = processes_.begin(); it != processes_.end(); ++it)
      if (it->first != keep && (oldest == processes_.end() || it->second->last_use < oldest->second->last_use)) oldest = it;
    debug_taken_ -= oldest->second->debug_files;
    processes_.erase(oldest);
    stats_.evicted++;
  }
  std::erase_if(files_, [](const auto& f) { return f.second.expired(); });
}

void StackUnwinder::release() {
  processes_.clear();
  files_.clear();
  debug_taken_ = 0;
}

// FILE opened and mapped once per unwinder while any cached process maps it: found again by
// its device and inode (held open, the inode cannot be reused meanwhile), so a binary seen
// through each process's /proc/PID/map_files link is still one file.
std::shared_ptr<SharedFile> StackUnwinder::shared_file(const std::string& file) {
  if (file.empty()) return nullptr;
  struct stat st {};
  if (stat(file.c_str(), &st) == 0)
    if (auto it = files_.find({st.st_dev, st.st_ino}); it != files_.end())
      if (auto known = it->second.lock()) return known;
  auto f = std::make_shared<SharedFile>();
  f->fd = open_regular_file(file);
  if (f->fd < 0 || fstat(f->fd, &st) != 0) return nullptr;
  if (auto it = files_.find({st.st_dev, st.st_ino}); it != files_.end())
    if (auto known = it->second.lock()) return known;  // replaced between stat and open: the file opened
  elf_version(EV_CURRENT);
  f->elf = elf_begin(f->fd, ELF_C_READ_MMAP_PRIVATE, nullptr);
  if (!f->elf || elf_kind(f->elf) != ELF_K_ELF) return nullptr;
  f->segments = load_segments(f->elf);
  size_t n = 0;
  if (elf_getphdrnum(f->elf, &n) != 0) return nullptr;
  bool first = true;
  for (size_t i = 0; i < n; i++) {
    GElf_Phdr ph;
    if (!gelf_getphdr(f->elf, static_cast<int>(i), &ph) || ph.p_type != PT_LOAD) continue;
    if (first) f->low = ph.p_vaddr & -ph.p_align;  // as libdwfl computes it (align 0: 0)
    first = false;
    if (ph.p_vaddr + ph.p_memsz > 0) f->high = ph.p_vaddr + ph.p_memsz;
  }
  if (first) return nullptr;  // nothing loadable
  files_[{st.st_dev, st.st_ino}] = f;
  return f;
}

UnwoundStack StackUnwinder::unwind(const StackCopy& copy) {
  UnwoundStack out;
  stats_.stacks++;
  const uint64_t pc = copy.regs->r[16];
  Process* p = process(copy.tgid, pc);
  if (!p) {
    out.frames.push_back(pc);
    stats_.broken++;
    return out;
  }
  Sample s;
  s.copy = &copy;
  s.frames = &out.frames;
  s.max_frames = max_frames_;
  p->sample = &s;
  current_budget = {p, &debug_taken_, &debug_refused_, limits_.max_debug_files};
  int rc = libdw().dwfl_getthread_frames(p->dwfl, static_cast<pid_t>(copy.tid), on_frame, p);
  current_budget = {};
  p->sample = nullptr;
  if (out.frames.empty()) out.frames.push_back(pc);
  if (rc == 0) {
    out.end = UnwoundStack::End::Complete;
    stats_.complete++;
  } else if ((s.read_past_copy && copy.cut) || out.frames.size() >= max_frames_) {
    out.end = UnwoundStack::End::Truncated;
    stats_.truncated++;
  } else {
    stats_.broken++;
  }
  return out;
}

}  // namespace perfbpf
