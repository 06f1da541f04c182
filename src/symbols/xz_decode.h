// Decompresses an .xz stream in memory with liblzma: MiniDebugInfo (.gnu_debugdata) is an
// xz-compressed ELF file holding the symbol table a stripped binary lost.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace perfbpf {

// The decompressed bytes; empty when DATA is not a complete xz stream or would decompress
// to more than MAX_OUT bytes (a hostile file cannot make perfbpf allocate without bound).
std::vector<uint8_t> xz_decode(const uint8_t* data, size_t size, size_t max_out = size_t{256} << 20);

}  // namespace perfbpf
