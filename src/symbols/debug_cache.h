// Inflated copies of debug files whose DWARF is compressed, kept by build-id (perf's ~/.debug
// way). Debian's debug files (libc6-dbg's, every -dbgsym) compress their .debug_* sections
// (SHF_COMPRESSED, or the older .zdebug_*), and libdw inflates all of them when it opens the
// file: 53-91 ms for libc's, in every session whose stacks pass through libc. A copy whose
// sections are stored inflated opens in well under a millisecond; it holds the same bytes
// libdw would have inflated, so names, sources and inlined frames are the same.
//
// Where: /var/cache/perfbpf/debug/ as root (under sudo too), else $XDG_CACHE_HOME/perfbpf/debug/
// or ~/.cache/perfbpf/debug/; one file per build-id, "<build-id>.debug".
// Trust: the directories and the file must be the effective user's own (root's), writable by no
// one else; the file is opened without following a link. It is used only when it is the
// inflated twin of the debug file at hand: the same build-id, the same sections (names, types,
// inflated sizes), no section compressed, every section inside the file. Anything else (a
// stale, foreign, truncated or planted file) is ignored and made again.
// Written only through report/output_file (a fresh temporary, renamed when complete).
// Bound: the directory is kept under PERFBPF_DEBUG_CACHE_MAX_MB (default 1024 MiB): after each
// new entry the least recently used files (by modification time, refreshed on each use) are
// removed until it fits; a debug file inflating to more than the bound is not cached; a
// temporary left behind by a killed session is removed once ten minutes old.
// Opt-out: PERFBPF_DEBUG_CACHE=off (or 0) reads and writes no cache; PERFBPF_DEBUG_CACHE=DIR
// uses DIR instead of the default directory.
#pragma once

#include <cstdint>
#include <string>

#include "util/unique_fd.h"

namespace perfbpf {

struct DebugCacheSettings {
  bool enabled = true;
  std::string dir;               // where entries live
  uint64_t max_bytes = 1ull << 30;  // the bound on the directory's regular files
};

// From the environment (see above).
DebugCacheSettings debug_cache_settings_from_environment();

enum class DebugCacheOutcome {
  NotCompressed,  // nothing to inflate: PATH's own DWARF is read
  Unavailable,    // no build-id, cache off, or the entry could not be made: PATH itself is read
  Hit,            // a valid entry was opened
  Made,           // the entry was made now and opened
};

struct InflatedDebugFile {
  UniqueFd fd;  // an open cache entry (Hit, Made), else empty
  DebugCacheOutcome outcome = DebugCacheOutcome::Unavailable;
};

// The inflated twin of debug file PATH (a DWARF reader opens fd instead of PATH), made when
// missing or not valid. Never throws: any failure leaves the caller reading PATH itself.
InflatedDebugFile open_inflated_debug_file(const std::string& path, const DebugCacheSettings& settings);

}  // namespace perfbpf
