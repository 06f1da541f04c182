// Addresses to function names after a session: user addresses through the process's
// mappings (snapshotted while it lives; the files of its code held open from then on, so a
// process gone or in another mount namespace keeps its names) and its ELF symbols,
// code outside any file through /tmp/perf-PID.map (JIT runtimes write it), kernel addresses
// through /proc/kallsyms. ELF files are read once per path.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "symbols/dwarf_sources.h"
#include "symbols/elf_symbols.h"
#include "symbols/proc_maps.h"

namespace perfbpf {

struct SymbolizedFrame {
  std::string name;    // demangled function name, or "[unknown]" / "[object]" when it has no symbol
  std::string object;  // file the address is in ("[kernel]" for kernel frames)
  bool kernel = false;
  bool resolved = false;  // a symbol was found
  std::string source;     // "file.c:42" where the function is defined, when DWARF says
  // Where DWARF for it lives and its virtual address there (for inlined-frame lookups).
  std::string dwarf_path;
  uint64_t vaddr = 0;
};

class Symbolizer {
 public:
  explicit Symbolizer(std::string proc_root = "/proc");

  // Reads the process's mappings and name now; later lookups use this snapshot. Returns false
  // when the process is already gone.
  bool snapshot(uint32_t tgid);
  bool has_snapshot(uint32_t tgid) const { return processes_.count(tgid) != 0; }
  // An executable mapping as the kernel sent it (before the samples that need it): added to
  // the process's known mappings, its file held open (through map_files while the process
  // lives, else by its path if that is still the same device and inode, else already held
  // for another process). M.first drops the code mappings known before.
  void add_code_mapping(const CodeMapping& m);
  // CHILD was forked from PARENT: it has PARENT's mappings (and held files) until it execs.
  void inherit(uint32_t child, uint32_t parent);
  std::string comm(uint32_t tgid) const;  // from the snapshot, else the fallback, else pid-N
  // The name to use for a process never snapshotted (it exited first).
  void set_fallback_comm(uint32_t tgid, std::string comm) { fallback_comms_[tgid] = std::move(comm); }
  size_t files_loaded() const { return elves_.size(); }  // ELF files read so far (each once)
  size_t dwarf_files_open() const { return dwarf_.open_files(); }  // DWARF held now
  // The snapshot's mappings (null when none), and a number that changes whenever they may have.
  const std::vector<MapEntry>* mappings(uint32_t tgid) const;
  uint64_t maps_generation(uint32_t tgid) const;
  // ADDRESS can be named as things stand: inside a mapped file (or the vDSO), or a symbol of the
  // process's /tmp/perf-PID.map. False for code in anonymous memory the map does not name yet
  // (a JIT writes its map as it compiles: a fresh snapshot may name it).
  bool names_address(uint32_t tgid, uint64_t address) const;
  // The path to read mapping M's file through (empty when it cannot be read).
  std::string object_file(uint32_t tgid, const MapEntry& m);

  SymbolizedFrame user_frame(uint32_t tgid, uint64_t address);
  // The frame and the functions inlined into it at that point, outermost first. A return
  // address (not the leaf) is looked up one byte back: the call, not what follows it.
  // Both cached per distinct address (kernel) or process, mappings and address (user); the
  // references stay valid for the Symbolizer's life.
  const std::vector<SymbolizedFrame>& user_frames(uint32_t tgid, uint64_t address, bool leaf);
  // Names the user frames of ADDRESSES now, as user_frames will return them, binary by binary:
  // each file's DWARF (source lines, inlined frames) is read in address order and released
  // before the next file's is opened, so a report over many binaries holds one binary's DWARF
  // at a time (user_frames alone keeps every file it opened until the Symbolizer ends).
  struct UserAddress {
    uint32_t tgid;
    uint64_t address;
    bool leaf;  // as user_frames' LEAF
  };
  void name_user_frames(const std::vector<UserAddress>& addresses);
  // /proc/kallsyms read whole at the first address not named yet by name_kernel_frames.
  const SymbolizedFrame& kernel_frame(uint64_t address);
  // Names ADDRESSES in one streamed pass over /proc/kallsyms, for kernel_frame to return: a
  // report's kernel frames are known before it is built, and keeping the whole table is ~10 MB.
  void name_kernel_frames(const std::vector<uint64_t>& addresses);
  // What name_kernel_frames asks first (the kernel's own lookup, collect/kernel_symbol_names):
  // names by address, an address no symbol holds absent; nullopt to fall back to the file.
  using KernelNamer =
      std::function<std::optional<std::unordered_map<uint64_t, std::string>>(const std::vector<uint64_t>&)>;
  void set_kernel_namer(KernelNamer namer) { kernel_namer_ = std::move(namer); }

 private:
  struct JitSymbol {
    uint64_t start, size;
    std::string name;
  };
  // A forked child shares its parent's maps and held files until either of them changes them
  // (own() copies them then): a fork-heavy machine forks thousands of children a second that
  // exit or exec without a sample, and copying every parent's mappings at each fork record was
  // a tenth of an --off-cpu --system session's CPU under stress-ng --fork.
  struct Process {
    std::shared_ptr<std::vector<MapEntry>> maps = std::make_shared<std::vector<MapEntry>>();
    std::vector<MapEntry> retired;  // code mappings replaced since (exec, dlclose), oldest first
    // mapped path -> its file held open (/proc/self/fd/N)
    std::shared_ptr<std::map<std::string, std::string>> held = std::make_shared<std::map<std::string, std::string>>();
    std::string comm;
    std::vector<JitSymbol> perf_map;  // /tmp/perf-PID.map, sorted by start
    uint64_t generation = 0;
  };
  void read_perf_map(uint32_t tgid, Process& p) const;
  void hold_files(uint32_t tgid, Process& p);
  // Holds the file M maps, if it is DEV:INODE when those are given (non-zero).
  void hold_file(uint32_t tgid, Process& p, const MapEntry& m, uint64_t dev = 0);
  struct KernelSymbol {
    uint64_t address;
    uint32_t name_offset, name_size;  // in kallsyms_names_
  };
  // A file's function symbols as naming a sampled address needs them, compact: ElfSymbols keeps
  // every alias, version and mangled name besides (several times the bytes, and --system samples
  // files such as libLLVM with 100 000 functions); it is dropped once this is built.
  struct FileSymbols {
    struct Function {
      uint64_t file_offset, address, size;
      uint32_t name_offset, name_size;  // the demangled name, in names
    };
    std::vector<Function> by_offset;  // sorted by file_offset
    std::string names;
    std::string debug_file;  // ElfSymbols::debug_file()
  };
  const FileSymbols* elf(const std::string& path);  // by canonical path; null when unreadable
  const std::string& canonical_path(const std::string& path);
  void load_kallsyms();
  const std::string& vdso_file();  // "" when the vDSO cannot be read
  bool vdso_tried_ = false;
  int vdso_fd_ = -1;
  std::string vdso_path_;

  std::string proc_root_;
  std::map<uint32_t, Process> processes_;
  std::map<uint32_t, std::string> fallback_comms_;
  std::map<std::string, std::string> canonical_;  // "dev:inode" -> the first path seen for it
  std::map<std::string, std::unique_ptr<FileSymbols>> elves_;  // null: unreadable, not retried
  std::vector<KernelSymbol> kallsyms_;
  std::string kallsyms_names_;  // text symbols' names, end to end
  std::unordered_map<uint64_t, SymbolizedFrame> kernel_cache_;
  DwarfSources dwarf_;
  bool kallsyms_loaded_ = false;
  KernelNamer kernel_namer_;
  uint64_t generations_ = 0;
  // user_frames by (tgid, mappings' generation, address, leaf): unwound stacks repeat the same
  // return addresses in sample after sample, and a DWARF scope walk is dear.
  struct FrameKey {
    uint32_t tgid;
    uint64_t generation, address;
    bool leaf;
    bool operator==(const FrameKey&) const = default;
  };
  struct FrameKeyHash {
    size_t operator()(const FrameKey& k) const;
  };
  // Each entry points into file_frames_ or other_frames_: a file's code at one offset is named
  // once, and held once, however many processes map it (a fork-heavy --system session has
  // thousands of processes running the same few libc functions).
  std::unordered_map<FrameKey, const std::vector<SymbolizedFrame>*, FrameKeyHash> frames_cache_;
  // By (path as mapped, file read, file offset): the frame and the frames inlined there.
  std::map<std::tuple<std::string, std::string, uint64_t>, std::vector<SymbolizedFrame>> file_frames_;
  // Frames named without a file (JIT map symbols, anonymous code, unmapped addresses), by
  // (object, name).
  std::map<std::pair<std::string, std::string>, std::vector<SymbolizedFrame>> other_frames_;
  // Where an address lies: FRAME answers it unless FILE (an ELF file to read) is set; then
  // FRAME is the answer for an offset no symbol covers.
  struct Place {
    SymbolizedFrame frame;
    std::string file;
    uint64_t offset = 0;  // in FILE
  };
  Place place(uint32_t tgid, uint64_t address);
  SymbolizedFrame file_frame(const Place& place);  // named by the file's symbols; no DWARF read
  void add_dwarf(std::vector<SymbolizedFrame>& frames);  // frames[0]'s source, then its inlined frames
  // The cached frames for KEY, made if new; with FRESH, new file frames' DWARF is left to the
  // caller (they are added to FRESH), else read now.
  const std::vector<SymbolizedFrame>* frames_at(const FrameKey& key, std::vector<std::vector<SymbolizedFrame>*>* fresh);
  // Files of mapped code held open by "dev:inode", so that a process that has exited (or lived
  // in another mount namespace) still has its binaries readable.
  struct HeldFile {
    int fd = -1;
    std::string path;  // "/proc/self/fd/N"
  };
  std::map<std::pair<uint64_t, uint64_t>, HeldFile> held_files_;  // closed only when the Symbolizer ends
  std::unordered_map<std::string, std::string> held_canonical_;     // HeldFile::path -> canonical_path()
 public:
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;
};

}  // namespace perfbpf
