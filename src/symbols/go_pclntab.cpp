#include "symbols/go_pclntab.h"

#include <algorithm>
#include <cstring>

namespace perfbpf {
namespace {

enum class Layout { Go12, Go116, Go118 };

// Little-endian reads (x86-64, arm64 Go binaries), bounds-checked: a truncated or hostile
// table stops the parse instead of reading past the section.
struct Reader {
  const uint8_t* data;
  size_t size;
  unsigned ptr_size;
  bool ok = true;

  uint64_t word(uint64_t at, unsigned width) {
    if (at > size || width > size - at) {
      ok = false;
      return 0;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++) v |= static_cast<uint64_t>(data[at + i]) << (8 * i);
    return v;
  }
  uint64_t u32(uint64_t at) { return word(at, 4); }
  uint64_t uptr(uint64_t at) { return word(at, ptr_size); }
  // A NUL-terminated name starting at AT; "" when it runs off the table.
  std::string name(uint64_t at) {
    if (at >= size) return {};
    const char* s = reinterpret_cast<const char*>(data + at);
    size_t len = strnlen(s, size - at);
    return at + len < size ? std::string(s, len) : std::string();
  }
};

}  // namespace

std::vector<GoFunction> read_go_pclntab(const uint8_t* data, size_t size, uint64_t text_start) {
  if (!data || size < 16) return {};
  uint32_t magic;
  std::memcpy(&magic, data, 4);
  Layout layout;
  switch (magic) {
    case 0xfffffffb: layout = Layout::Go12; break;
    case 0xfffffffa: layout = Layout::Go116; break;
    case 0xfffffff0:
    case 0xfffffff1: layout = Layout::Go118; break;
    default: return {};
  }
  const unsigned ptr_size = data[7];
  if (data[4] != 0 || data[5] != 0 || (ptr_size != 4 && ptr_size != 8)) return {};
  Reader r{data, size, ptr_size};
  const uint64_t nfunc = r.uptr(8);

  // Where the function table, the per-function records and the names are, per layout.
  uint64_t functab, funcdata, funcnames, field;
  if (layout == Layout::Go12) {
    functab = 8 + ptr_size;
    funcdata = 0;
    funcnames = 0;
    field = ptr_size;
  } else {
    // Header words after magic/nfunc/nfiles: [textStart,] funcname, cu, filetab, pctab, pcln.
    const unsigned first = layout == Layout::Go118 ? 3 : 2;
    if (layout == Layout::Go118) {
      // The file's own textStart is right for non-PIE builds; a PIE leaves it 0 for the loader.
      if (uint64_t own = r.uptr(8 + 2 * ptr_size); own != 0) text_start = own;
    }
    funcnames = r.uptr(8 + first * ptr_size);
    funcdata = r.uptr(8 + (first + 4) * ptr_size);
    functab = funcdata;
    field = layout == Layout::Go118 ? 4 : ptr_size;
  }
  if (!r.ok || nfunc == 0 || nfunc > size / (2 * field)) return {};

  std::vector<GoFunction> out;
  out.reserve(nfunc);
  auto entry_at = [&](uint64_t i) {
    uint64_t v = r.word(functab + i * 2 * field, static_cast<unsigned>(field));
    return layout == Layout::Go118 ? text_start + v : v;
  };
  for (uint64_t i = 0; i < nfunc && r.ok; i++) {
    uint64_t entry = entry_at(i);
    uint64_t record = funcdata + r.word(functab + (i * 2 + 1) * field, static_cast<unsigned>(field));
    // _func begins with the entry (uint32 offset from 1.18, a pointer before) and the name offset.
    uint64_t name_off = r.u32(record + (layout == Layout::Go118 ? 4 : ptr_size));
    std::string name = r.name(funcnames + name_off);
    if (!r.ok) break;
    if (!name.empty()) out.push_back({std::move(name), entry, 0});
  }
  // The table ends with one more entry: the end of the last function.
  uint64_t end = entry_at(nfunc);
  if (!r.ok || out.empty()) return {};
  std::stable_sort(out.begin(), out.end(), [](const GoFunction& a, const GoFunction& b) { return a.entry < b.entry; });
  for (size_t i = 0; i < out.size(); i++) out[i].end = i + 1 < out.size() ? out[i + 1].entry : std::max(end, out[i].entry);
  return out;
}

}  // namespace perfbpf
