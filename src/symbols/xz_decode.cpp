#include "symbols/xz_decode.h"

#include <algorithm>

#include "symbols/lazy_library.h"

namespace perfbpf {

std::vector<uint8_t> xz_decode(const uint8_t* data, size_t size, size_t max_out) {
  lzma_stream s = LZMA_STREAM_INIT;
  // Memory for the decoder's dictionary is bounded too (xz -9 needs 65 MiB).
  if (liblzma().lzma_stream_decoder(&s, uint64_t{128} << 20, 0) != LZMA_OK) return {};
  std::vector<uint8_t> out(std::min<size_t>(max_out, size * 4 + 4096));
  s.next_in = data;
  s.avail_in = size;
  s.next_out = out.data();
  s.avail_out = out.size();
  lzma_ret ret;
  while ((ret = liblzma().lzma_code(&s, LZMA_FINISH)) == LZMA_OK) {
    if (s.avail_out != 0) continue;
    size_t used = out.size();
    if (used >= max_out) break;
    out.resize(std::min(max_out, used * 2));
    s.next_out = out.data() + used;
    s.avail_out = out.size() - used;
  }
  size_t produced = out.size() - s.avail_out;
  liblzma().lzma_end(&s);
  if (ret != LZMA_STREAM_END) return {};
  out.resize(produced);
  return out;
}

}  // namespace perfbpf
