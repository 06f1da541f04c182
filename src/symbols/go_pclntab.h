// Function names and entry addresses from a Go binary's pclntab, the table Go's own runtime
// uses for tracebacks. It survives `go build -ldflags='-s -w'`, which drops .symtab, so a
// stripped Go binary still names its functions ("main.(*Server).handle").
// Layouts read (cmd/link, debug/gosym): Go 1.2-1.15 (magic 0xfffffffb), 1.16-1.17
// (0xfffffffa), 1.18-1.19 (0xfffffff0), 1.20 and later (0xfffffff1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace perfbpf {

struct GoFunction {
  std::string name;
  uint64_t entry = 0;  // virtual address as in the ELF file
  uint64_t end = 0;    // the next function's entry (the table's end for the last one)
};

// Parses the table at DATA (the .gopclntab section). TEXT_START is the .text section's address:
// Go 1.18+ give entries relative to the runtime's text start, which PIE builds leave to a
// relocation (0 in the file). Returns the functions sorted by entry; an unknown magic or a
// table that does not hold together gives an empty list (never reads past SIZE).
std::vector<GoFunction> read_go_pclntab(const uint8_t* data, size_t size, uint64_t text_start);

}  // namespace perfbpf
