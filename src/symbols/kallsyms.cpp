#include "symbols/kallsyms.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace perfbpf {

namespace {

constexpr size_t kChunk = 256u << 10;  // bytes read at a time; a line is far shorter

// "ADDRESS TYPE NAME[\t[MODULE]]": FN for a text symbol's line.
void parse_line(const char* p, const char* eol, const std::function<void(uint64_t, std::string_view)>& fn) {
  uint64_t address = 0;
  const char* q = p;
  for (; q < eol; q++) {
    const unsigned c = static_cast<unsigned char>(*q);
    const unsigned digit = c - '0' < 10 ? c - '0' : (c | 0x20) - 'a' < 6 ? (c | 0x20) - 'a' + 10 : 16;
    if (digit == 16) break;
    address = address << 4 | digit;
  }
  if (eol - q > 3 && q[0] == ' ' && q[2] == ' ' && (q[1] == 't' || q[1] == 'T' || q[1] == 'w' || q[1] == 'W') && address) {
    const char* name = q + 3;
    const char* name_end = name;
    while (name_end < eol && *name_end != '\t' && *name_end != ' ') name_end++;
    fn(address, std::string_view(name, static_cast<size_t>(name_end - name)));
  }
}

}  // namespace

bool for_each_kernel_text_symbol(const std::string& path, const std::function<void(uint64_t, std::string_view)>& fn) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string buf(kChunk, '\0');
  size_t held = 0;  // bytes of an unfinished line kept at buf's start
  for (;;) {
    if (held == buf.size()) buf.resize(buf.size() * 2);  // a line longer than a chunk (never seen)
    ssize_t n = ::read(fd, buf.data() + held, buf.size() - held);
    if (n < 0 && errno == EINTR) continue;
    const size_t have = held + static_cast<size_t>(std::max<ssize_t>(n, 0));
    const char* p = buf.data();
    const char* const end = p + have;
    for (;;) {
      const char* eol = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      if (!eol) break;
      parse_line(p, eol, fn);
      p = eol + 1;
    }
    if (n <= 0) {  // end of file (or an error: what was read counts)
      if (p < end) parse_line(p, end, fn);
      break;
    }
    held = static_cast<size_t>(end - p);
    std::memmove(buf.data(), p, held);
  }
  ::close(fd);
  return true;
}

std::unordered_map<uint64_t, std::string> name_kernel_addresses(const std::string& path, std::vector<uint64_t> addresses) {
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  // Each symbol is offered to the lowest asked address at or above it only; the answer for an
  // address is then the highest symbol offered to it or to any lower address (a prefix
  // maximum): whatever the file's order, one binary search per line.
  struct Best {
    uint64_t address = 0;
    std::string name;
  };
  std::vector<Best> best(addresses.size());
  std::unordered_map<uint64_t, std::string> names;
  for_each_kernel_text_symbol(path, [&](uint64_t at, std::string_view name) {
    auto it = std::lower_bound(addresses.begin(), addresses.end(), at);
    if (it == addresses.end()) return;
    Best& b = best[static_cast<size_t>(it - addresses.begin())];
    if (at >= b.address) {  // the later of equal addresses, as a sorted table's upper_bound finds
      b.address = at;
      b.name.assign(name);
    }
  });
  const Best* top = nullptr;
  for (size_t i = 0; i < addresses.size(); i++) {
    if (best[i].address && (!top || best[i].address >= top->address)) top = &best[i];
    if (top) names.emplace(addresses[i], top->name);
  }
  return names;
}

}  // namespace perfbpf
