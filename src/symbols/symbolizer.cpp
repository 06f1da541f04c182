#include "symbols/symbolizer.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <tuple>

#include <fmt/format.h>

#include "perfbpf/error.h"
#include "symbols/kallsyms.h"
#include "util/safe_path.h"

namespace perfbpf {

namespace {
// Files held at once; past it a file is read by its path (the fd limit is shared with the rest
// of the session).
constexpr size_t kMaxHeldFiles = 256;
// Code mappings kept per process after an exec or dlclose replaced them.
constexpr size_t kMaxRetiredMappings = 256;

// A shared value made this process's own before it is changed (copy on write).
template <typename T>
T& own(std::shared_ptr<T>& shared) {
  if (shared.use_count() > 1) shared = std::make_shared<T>(*shared);
  return *shared;
}
}  // namespace

Symbolizer::Symbolizer(std::string proc_root) : proc_root_(std::move(proc_root)) {}

Symbolizer::~Symbolizer() {
  for (auto& [key, f] : held_files_) ::close(f.fd);
  if (vdso_fd_ >= 0) ::close(vdso_fd_);
}

// Opens each file the process maps code from, through /proc/PID/map_files (the very file
// mapped, whatever namespace or name it has; a deleted one too), once per device and inode.
void Symbolizer::hold_files(uint32_t tgid, Process& p) {
  for (const MapEntry& m : *p.maps)
    if (m.inode != 0 && !m.path.empty() && m.path[0] == '/' && m.perms.find('x') != std::string::npos &&
        !p.held->count(m.path))
      hold_file(tgid, p, m);
}

void Symbolizer::hold_file(uint32_t tgid, Process& p, const MapEntry& m, uint64_t dev) {
  const bool expect = dev != 0 && m.inode != 0;
  auto key_of = [](const struct stat& st) {
    return std::make_pair(static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino));
  };
  auto use = [&](const HeldFile& f) { own(p.held)[m.path] = f.path; };
  // Already held for this or another process: the kernel's device and inode say which.
  if (expect) {
    auto it = held_files_.find({dev, m.inode});
    if (it != held_files_.end()) return use(it->second);
  }
  // The process's own view of the mapping while it lives, else its path (checked: the same
  // name may be another file now, or on the host than in the process's mount namespace).
  const std::string pid = proc_root_ + "/" + std::to_string(tgid);
  const std::string candidates[] = {pid + "/map_files/" + fmt::format("{:x}-{:x}", m.start, m.end),
                                    pid + "/root" + m.path, m.path};
  for (size_t i = 0; i < std::size(candidates); i++) {
    if (i > 0 && (!expect || m.path.empty() || m.path[0] != '/')) break;
    struct stat st {};
    if (::stat(candidates[i].c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    auto key = key_of(st);
    if (expect && key != std::make_pair(dev, m.inode)) continue;
    auto it = held_files_.find(key);
    if (it == held_files_.end()) {
      if (held_files_.size() >= kMaxHeldFiles) return;
      int fd = ::open(candidates[i].c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      struct stat opened {};
      if (::fstat(fd, &opened) != 0 || key_of(opened) != key) {  // replaced between stat and open
        ::close(fd);
        continue;
      }
      it = held_files_.emplace(key, HeldFile{fd, "/proc/self/fd/" + std::to_string(fd)}).first;
    }
    return use(it->second);
  }
}

void Symbolizer::inherit(uint32_t child, uint32_t parent) {
  auto p = processes_.find(parent);
  if (p == processes_.end() || processes_.count(child)) return;
  Process copy;
  copy.maps = p->second.maps;  // shared, not copied (above)
  copy.held = p->second.held;  // not its name: the child is named as it runs (exec renames it)
  copy.generation = ++generations_;
  processes_.emplace(child, std::move(copy));
}

void Symbolizer::add_code_mapping(const CodeMapping& c) {
  Process& p = processes_[c.tgid];
  auto is_code = [](const MapEntry& m) {
    return (m.path == "[vdso]" || (!m.path.empty() && m.path[0] == '/')) && m.perms.find('x') != std::string::npos;
  };
  // A new set follows: the code mappings before it go (to retired: samples taken before name
  // through them), as does whatever the new one overlaps.
  auto retire = [&](auto gone) {
    if (std::none_of(p.maps->begin(), p.maps->end(), gone)) return;
    std::vector<MapEntry> keep;
    for (const MapEntry& m : *p.maps) (gone(m) ? p.retired : keep).push_back(m);
    p.maps = std::make_shared<std::vector<MapEntry>>(std::move(keep));
    if (p.retired.size() > kMaxRetiredMappings)
      p.retired.erase(p.retired.begin(), p.retired.end() - static_cast<long>(kMaxRetiredMappings));
  };
  if (c.first) retire(is_code);
  // An exec renames the process: its name from /proc before it is stale (the kernel's, taken
  // at the exec, stands in until /proc is read again).
  if (c.new_image) p.comm.clear();
  retire([&](const MapEntry& m) { return m.start < c.end && c.start < m.end; });
  MapEntry m;
  m.start = c.start;
  m.end = c.end;
  m.offset = c.offset;
  m.perms = "r-xp";
  m.inode = c.inode;
  m.path = c.path.empty() ? fmt::format("[dev {:x} inode {}]", c.dev, c.inode) : c.path;
  if (m.path[0] == '/') {
    if (p.held->count(m.path)) own(p.held).erase(m.path);  // the file now at this path may not be the one held before under it
    hold_file(c.tgid, p, m, c.dev);
  }
  own(p.maps).push_back(std::move(m));
  p.generation = ++generations_;
}

bool Symbolizer::snapshot(uint32_t tgid) {
  try {
    Process p;
    auto maps = std::make_shared<std::vector<MapEntry>>(read_proc_maps(proc_root_, static_cast<int>(tgid)));
    if (maps->empty()) return false;  // a zombie has no mappings left
    p.maps = maps;
    auto old = processes_.find(tgid);
    if (old != processes_.end()) p.held = old->second.held;  // files already held stay so
    hold_files(tgid, p);
    std::ifstream comm(proc_root_ + "/" + std::to_string(tgid) + "/comm");
    std::getline(comm, p.comm);
    read_perf_map(tgid, p);
    // A process caught while exiting has lost some mappings already: what an earlier snapshot
    // saw and nothing now overlaps is kept, so its samples still find their files.
    if (old != processes_.end()) {
      for (const MapEntry& m : *old->second.maps) {
        bool overlapped = std::any_of(maps->begin(), maps->end(),
                                      [&](const MapEntry& n) { return n.start < m.end && m.start < n.end; });
        if (!overlapped) maps->push_back(m);
      }
      if (p.perf_map.empty()) p.perf_map = std::move(old->second.perf_map);
      p.retired = std::move(old->second.retired);
    }
    // The generation moves only when the code mapped did (the unwinder re-reads files then).
    auto code = [](const std::vector<MapEntry>& maps) {
      std::vector<std::tuple<uint64_t, uint64_t, uint64_t, std::string>> out;
      for (const MapEntry& m : maps)
        if (m.perms.find('x') != std::string::npos) out.emplace_back(m.start, m.end, m.offset, m.path);
      std::sort(out.begin(), out.end());
      return out;
    };
    p.generation = old != processes_.end() && code(*old->second.maps) == code(*p.maps) ? old->second.generation : ++generations_;
    processes_[tgid] = std::move(p);
    return true;
  } catch (const Error&) {
    return false;
  }
}

// "START SIZE name" per line, hex, as perf reads it; the file is in the process's /tmp, where
// anyone may create it: only a regular file of root's or of the process's own user is read (a
// FIFO there would hang perfbpf in open(), a link to /dev/zero fill its memory, another user's
// file name someone else's code), as perf does.
void Symbolizer::read_perf_map(uint32_t tgid, Process& p) const {
  const std::string proc = proc_root_ + "/" + std::to_string(tgid);
  const std::string name = "/tmp/perf-" + std::to_string(tgid) + ".map";
  struct stat process {};
  if (stat(proc.c_str(), &process) != 0) return;
  RegularFile file;
  try {
    file = read_regular_file(AT_FDCWD, proc + "/root" + name, 256u << 20 /* a JIT's map, generously */);
  } catch (const PathRefused&) {
    return;
  }
  if (file.st.st_uid != 0 && file.st.st_uid != process.st_uid) return;
  std::istringstream in(file.text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string start, size;
    if (!(fields >> start >> size)) continue;
    std::string symbol;
    std::getline(fields >> std::ws, symbol);
    try {
      p.perf_map.push_back({std::stoull(start, nullptr, 16), std::stoull(size, nullptr, 16), symbol});
    } catch (const std::exception&) {
      // a malformed line names nothing; the rest of the file still counts
    }
  }
  std::sort(p.perf_map.begin(), p.perf_map.end(), [](const auto& a, const auto& b) { return a.start < b.start; });
}

const std::vector<MapEntry>* Symbolizer::mappings(uint32_t tgid) const {
  auto it = processes_.find(tgid);
  return it == processes_.end() ? nullptr : it->second.maps.get();
}

uint64_t Symbolizer::maps_generation(uint32_t tgid) const {
  auto it = processes_.find(tgid);
  return it == processes_.end() ? 0 : it->second.generation;
}

bool Symbolizer::names_address(uint32_t tgid, uint64_t address) const {
  auto p = processes_.find(tgid);
  if (p == processes_.end()) return false;
  for (const MapEntry& m : *p->second.maps)
    if (m.start <= address && address < m.end && !m.path.empty() && (m.path[0] == '/' || m.path == "[vdso]")) return true;
  const auto& jit = p->second.perf_map;
  auto j = std::upper_bound(jit.begin(), jit.end(), address, [](uint64_t a, const JitSymbol& s) { return a < s.start; });
  return j != jit.begin() && address < std::prev(j)->start + std::prev(j)->size;
}

std::string Symbolizer::comm(uint32_t tgid) const {
  auto it = processes_.find(tgid);
  if (it != processes_.end() && !it->second.comm.empty()) return it->second.comm;
  auto fallback = fallback_comms_.find(tgid);
  return fallback != fallback_comms_.end() && !fallback->second.empty() ? fallback->second : "pid-" + std::to_string(tgid);
}

// One file seen through many paths (each process's /proc/PID/root, bind mounts) is read once:
// the cache is keyed by device and inode, and the first path seen stands for the file.
const std::string& Symbolizer::canonical_path(const std::string& path) {
  struct stat st {};
  std::string key = ::stat(path.c_str(), &st) == 0 ? fmt::format("{}:{}", st.st_dev, st.st_ino) : "path:" + path;
  return canonical_.try_emplace(key, path).first->second;
}

const Symbolizer::FileSymbols* Symbolizer::elf(const std::string& path) {
  auto it = elves_.find(path);
  if (it != elves_.end()) return it->second.get();
  std::unique_ptr<FileSymbols> compact;
  try {
    const ElfSymbols loaded = ElfSymbols::load(path);
    compact = std::make_unique<FileSymbols>();
    compact->debug_file = loaded.debug_file();
    compact->by_offset.reserve(loaded.functions().size());
    // Sized once: grown by appending, then shrunk, the names of a large symbol table were
    // copied over and over (6 % of an --off-cpu --system session's CPU).
    size_t bytes = 0;
    for (const auto& f : loaded.functions()) bytes += f.demangled.size();
    compact->names.reserve(bytes);
    for (const auto& f : loaded.functions()) {
      compact->by_offset.push_back({f.file_offset, f.address, f.size, static_cast<uint32_t>(compact->names.size()),
                                    static_cast<uint32_t>(f.demangled.size())});
      compact->names += f.demangled;
    }
    std::sort(compact->by_offset.begin(), compact->by_offset.end(),
              [](const auto& a, const auto& b) { return a.file_offset < b.file_offset; });
  } catch (const Error&) {
    // An unreadable or vanished file leaves its frames unnamed; counted in coverage.
  }
  return elves_.emplace(path, std::move(compact)).first->second.get();
}

// The vDSO is the kernel's: every 64-bit process maps the same image, perfbpf's own among them
// (AT_SYSINFO_EHDR). A copy in a memfd is read like any file; its offsets are its addresses.
const std::string& Symbolizer::vdso_file() {
  if (vdso_tried_) return vdso_path_;
  vdso_tried_ = true;
  const auto* image = reinterpret_cast<const unsigned char*>(getauxval(AT_SYSINFO_EHDR));
  if (!image || std::memcmp(image, ELFMAG, SELFMAG) != 0 || image[EI_CLASS] != ELFCLASS64) return vdso_path_;
  Elf64_Ehdr eh;
  std::memcpy(&eh, image, sizeof(eh));
  // The image runs to its section headers' end (the kernel maps the whole file).
  size_t size = eh.e_shoff + size_t{eh.e_shnum} * eh.e_shentsize;
  if (size < sizeof(eh) || size > (1u << 20)) return vdso_path_;
  int fd = memfd_create("perfbpf-vdso", MFD_CLOEXEC);
  if (fd < 0) return vdso_path_;
  if (::write(fd, image, size) != static_cast<ssize_t>(size)) {
    ::close(fd);
    return vdso_path_;
  }
  vdso_fd_ = fd;
  vdso_path_ = "/proc/self/fd/" + std::to_string(fd);
  return vdso_path_;
}

// Through the process's root while it lives (other mount namespaces); once it has exited
// that is gone, and the path as it saw it is the best guess left.
std::string Symbolizer::object_file(uint32_t tgid, const MapEntry& m) {
  auto p = processes_.find(tgid);
  if (p != processes_.end()) {
    auto held = p->second.held->find(m.path);
    if (held != p->second.held->end()) {
      // A held file's path (/proc/self/fd/N) names the same file until the Symbolizer ends: its
      // canonical path is looked up once, not stat()ed again for every address of every process.
      auto known = held_canonical_.find(held->second);
      if (known == held_canonical_.end()) known = held_canonical_.emplace(held->second, canonical_path(held->second)).first;
      if (elf(known->second)) return known->second;
    }
  }
  std::string file = canonical_path(proc_root_ + "/" + std::to_string(tgid) + "/root" + m.path);
  if (elf(file)) return file;
  // The host's file of that name, unless it is known to be another (another inode).
  struct stat st {};
  if (m.inode != 0 && ::stat(m.path.c_str(), &st) == 0 && st.st_ino != m.inode) return {};
  file = canonical_path(m.path);
  return elf(file) ? file : std::string();
}

Symbolizer::Place Symbolizer::place(uint32_t tgid, uint64_t address) {
  Place place;
  SymbolizedFrame& frame = place.frame;
  frame.name = "[unknown]";
  auto p = processes_.find(tgid);
  if (p == processes_.end()) return place;
  // The mappings now, else those replaced since (a sample taken before an exec).
  auto covers = [address](const MapEntry& m) { return m.start <= address && address < m.end; };
  const auto& now = *p->second.maps;
  const auto& before = p->second.retired;
  const MapEntry* found = nullptr;
  if (auto it = std::find_if(now.begin(), now.end(), covers); it != now.end()) found = &*it;
  else if (auto old = std::find_if(before.rbegin(), before.rend(), covers); old != before.rend()) found = &*old;
  if (!found) return place;
  const MapEntry& m = *found;
  frame.object = m.path;
  const auto& jit = p->second.perf_map;
  auto j = std::upper_bound(jit.begin(), jit.end(), address, [](uint64_t a, const JitSymbol& s) { return a < s.start; });
  if (j != jit.begin() && address < std::prev(j)->start + std::prev(j)->size) {
    frame.name = std::prev(j)->name;
    frame.object = "[perf-map]";
    frame.resolved = true;
    return place;
  }
  const bool vdso = m.path == "[vdso]";
  if (!vdso && (m.path.empty() || m.path[0] != '/')) {
    frame.name = m.path.empty() ? "[anon]" : m.path;  // [heap], JIT code, ...
    return place;
  }
  place.file = vdso ? vdso_file() : object_file(tgid, m);
  place.offset = address - m.start + m.offset;
  // No symbol (or no readable file): one frame per object, so its samples add up instead of
  // scattering over every address (a stripped library's internal functions all land here).
  frame.name = vdso ? m.path : fmt::format("[{}]", m.path.substr(m.path.rfind('/') + 1));
  return place;
}

SymbolizedFrame Symbolizer::file_frame(const Place& place) {
  SymbolizedFrame frame = place.frame;
  const FileSymbols* symbols = place.file.empty() ? nullptr : elf(place.file);
  if (!symbols) return frame;
  const auto& sorted = symbols->by_offset;
  auto it = std::upper_bound(sorted.begin(), sorted.end(), place.offset,
                             [](uint64_t off, const FileSymbols::Function& f) { return off < f.file_offset; });
  if (it == sorted.begin()) return frame;
  const FileSymbols::Function* f = &*std::prev(it);
  // Size 0 (hand-written assembly) is trusted up to the next symbol.
  if (f->size != 0 && place.offset >= f->file_offset + f->size) return frame;
  frame.name.assign(symbols->names, f->name_offset, f->name_size);
  frame.resolved = true;
  frame.vaddr = place.offset - f->file_offset + f->address;
  frame.dwarf_path = symbols->debug_file.empty() ? place.file : symbols->debug_file;
  return frame;
}

SymbolizedFrame Symbolizer::user_frame(uint32_t tgid, uint64_t address) {
  SymbolizedFrame frame = file_frame(place(tgid, address));
  if (frame.resolved && !frame.dwarf_path.empty()) frame.source = dwarf_.function_source(frame.dwarf_path, frame.vaddr);
  return frame;
}

void Symbolizer::add_dwarf(std::vector<SymbolizedFrame>& frames) {
  SymbolizedFrame& physical = frames[0];
  if (!physical.resolved || physical.dwarf_path.empty()) return;
  DwarfSources::Lookup found = dwarf_.lookup(physical.dwarf_path, physical.vaddr);
  physical.source = std::move(found.source);
  for (auto& inl : found.inlined) {
    SymbolizedFrame f = frames[0];
    f.name = inl.name + " [inlined]";
    f.source = inl.source;
    frames.push_back(std::move(f));
  }
}

const std::vector<SymbolizedFrame>* Symbolizer::frames_at(const FrameKey& key, std::vector<std::vector<SymbolizedFrame>*>* fresh) {
  Place p = place(key.tgid, key.leaf || key.address == 0 ? key.address : key.address - 1);
  if (p.file.empty()) return &other_frames_.try_emplace({p.frame.object, p.frame.name}, 1, p.frame).first->second;
  auto [it, added] = file_frames_.try_emplace({p.frame.object, p.file, p.offset});
  if (added) {
    it->second.push_back(file_frame(p));
    if (fresh) fresh->push_back(&it->second);  // the caller reads their DWARF
    else add_dwarf(it->second);
  }
  return &it->second;
}

const std::vector<SymbolizedFrame>& Symbolizer::user_frames(uint32_t tgid, uint64_t address, bool leaf) {
  const FrameKey key{tgid, maps_generation(tgid), address, leaf};
  auto cached = frames_cache_.find(key);
  if (cached != frames_cache_.end()) return *cached->second;
  return *frames_cache_.emplace(key, frames_at(key, nullptr)).first->second;
}

void Symbolizer::name_user_frames(const std::vector<UserAddress>& addresses) {
  std::vector<std::vector<SymbolizedFrame>*> fresh;
  for (const UserAddress& a : addresses) {
    const FrameKey key{a.tgid, maps_generation(a.tgid), a.address, a.leaf};
    if (!frames_cache_.count(key)) frames_cache_.emplace(key, frames_at(key, &fresh));
  }
  // File by file, in address order (neighbours share a compilation unit's pages), each file's
  // DWARF released before the next is opened.
  std::sort(fresh.begin(), fresh.end(), [](const auto* a, const auto* b) {
    return std::tie((*a)[0].dwarf_path, (*a)[0].vaddr) < std::tie((*b)[0].dwarf_path, (*b)[0].vaddr);
  });
  for (size_t i = 0; i < fresh.size(); i++) {
    add_dwarf(*fresh[i]);
    const std::string& path = (*fresh[i])[0].dwarf_path;
    if (!path.empty() && (i + 1 == fresh.size() || (*fresh[i + 1])[0].dwarf_path != path)) dwarf_.release(path);
  }
}

size_t Symbolizer::FrameKeyHash::operator()(const FrameKey& k) const {
  uint64_t h = k.address * 0x9e3779b97f4a7c15ull;
  h ^= (uint64_t{k.tgid} << 1 | k.leaf) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h ^= k.generation + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return static_cast<size_t>(h);
}

// Text symbols only, their names packed: /proc/kallsyms has some 200 000 lines, and a stream
// per line made its load a third of a sampling session's CPU.
void Symbolizer::load_kallsyms() {
  kallsyms_loaded_ = true;
  // Unreadable: kernel frames stay unnamed; coverage says so.
  for_each_kernel_text_symbol(proc_root_ + "/kallsyms", [this](uint64_t address, std::string_view name) {
    kallsyms_.push_back({address, static_cast<uint32_t>(kallsyms_names_.size()), static_cast<uint32_t>(name.size())});
    kallsyms_names_.append(name);
  });
  // Stable: of equal addresses the last in the file is found, as name_kernel_addresses does.
  if (!std::is_sorted(kallsyms_.begin(), kallsyms_.end(), [](const auto& x, const auto& y) { return x.address < y.address; }))
    std::stable_sort(kallsyms_.begin(), kallsyms_.end(), [](const auto& x, const auto& y) { return x.address < y.address; });
}

namespace {

SymbolizedFrame kernel_frame_named(std::string name) {
  SymbolizedFrame frame;
  frame.kernel = true;
  frame.object = "[kernel]";
  frame.resolved = !name.empty();
  frame.name = name.empty() ? "[unknown]" : std::move(name);
  return frame;
}

}  // namespace

void Symbolizer::name_kernel_frames(const std::vector<uint64_t>& addresses) {
  if (kallsyms_loaded_) return;  // kernel_frame has the whole table already
  // Each address once: a report's stacks repeat the same kernel frames thousands of times, and
  // every address asked is a bpf_snprintf in the kernel (or a comparison in the file's pass).
  std::vector<uint64_t> wanted;
  for (uint64_t a : addresses)
    if (!kernel_cache_.count(a)) wanted.push_back(a);
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  if (wanted.empty()) return;
  std::optional<std::unordered_map<uint64_t, std::string>> names;
  if (kernel_namer_) names = kernel_namer_(wanted);
  if (!names) names = name_kernel_addresses(proc_root_ + "/kallsyms", wanted);
  for (uint64_t a : wanted) {
    auto it = names->find(a);
    kernel_cache_.emplace(a, kernel_frame_named(it == names->end() ? std::string() : std::move(it->second)));
  }
}

// Cached per address: a kernel-heavy workload's distinct stacks share most of their frames.
const SymbolizedFrame& Symbolizer::kernel_frame(uint64_t address) {
  auto cached = kernel_cache_.find(address);
  if (cached != kernel_cache_.end()) return cached->second;
  if (!kallsyms_loaded_) load_kallsyms();
  auto it = std::upper_bound(kallsyms_.begin(), kallsyms_.end(), address,
                             [](uint64_t a, const KernelSymbol& s) { return a < s.address; });
  std::string name;
  if (it != kallsyms_.begin()) name.assign(kallsyms_names_, std::prev(it)->name_offset, std::prev(it)->name_size);
  return kernel_cache_.emplace(address, kernel_frame_named(std::move(name))).first->second;
}

}  // namespace perfbpf
