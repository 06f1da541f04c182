#include "collect/ring_reader.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "perfbpf/error.h"

namespace perfbpf {
namespace {

[[noreturn]] void fail(const char* what, int err) {
  throw Error(errno_message(std::string(what), err), err == EPERM ? "run as root" : "", err);
}

}  // namespace

RingReader::RingReader(int map_fd, Callback callback, void* ctx) : callback_(callback), ctx_(ctx) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(map_fd, &info, &len) != 0) fail("cannot read the ring buffer's size", errno);
  if (info.type != BPF_MAP_TYPE_RINGBUF || info.max_entries == 0 || (info.max_entries & (info.max_entries - 1)))
    fail("not a BPF ring buffer", EINVAL);
  page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  mask_ = info.max_entries - 1;
  void* consumer = mmap(nullptr, page_, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
  if (consumer == MAP_FAILED) fail("cannot map the ring buffer's consumer page", errno);
  consumer_pos_ = static_cast<unsigned long*>(consumer);
  // The producer page and the data once: the kernel accepts any length up to its double map.
  void* producer = mmap(nullptr, page_ + data_bytes(), PROT_READ, MAP_SHARED, map_fd, static_cast<off_t>(page_));
  if (producer == MAP_FAILED) {
    const int err = errno;
    munmap(consumer, page_);
    fail("cannot map the ring buffer's data", err);
  }
  producer_page_ = static_cast<unsigned char*>(producer);
  producer_pos_ = reinterpret_cast<const unsigned long*>(producer_page_);
  data_ = producer_page_ + page_;
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  epoll_event ev{};
  ev.events = EPOLLIN;
  if (!epoll_ || epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, map_fd, &ev) != 0) {
    const int err = errno;
    munmap(producer, page_ + data_bytes());
    munmap(consumer, page_);
    fail("cannot watch the ring buffer", err);
  }
}

RingReader::~RingReader() {
  munmap(producer_page_, page_ + data_bytes());
  munmap(consumer_pos_, page_);
}

int64_t RingReader::consume() {
  int64_t handed = 0;
  unsigned long consumer = __atomic_load_n(consumer_pos_, __ATOMIC_ACQUIRE);
  for (bool more = true; more;) {
    more = false;
    const unsigned long producer = __atomic_load_n(producer_pos_, __ATOMIC_ACQUIRE);
    while (consumer < producer) {
      // Headers are 8-byte aligned in a power-of-two ring: never split by its end.
      const size_t at = consumer & mask_;
      const uint32_t header = __atomic_load_n(reinterpret_cast<const uint32_t*>(data_ + at), __ATOMIC_ACQUIRE);
      if (header & BPF_RINGBUF_BUSY_BIT) return handed;  // reserved, not yet submitted
      more = true;
      const uint32_t size = header & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
      consumer += (static_cast<unsigned long>(size) + BPF_RINGBUF_HDR_SZ + 7) / 8 * 8;
      int err = 0;
      if (!(header & BPF_RINGBUF_DISCARD_BIT)) {
        const size_t start = (at + BPF_RINGBUF_HDR_SZ) & mask_;
        const size_t before_end = data_bytes() - start;
        if (size <= before_end) {
          err = callback_(ctx_, data_ + start, size);
        } else {
          wrapped_.resize(size);
          std::memcpy(wrapped_.data(), data_ + start, before_end);
          std::memcpy(wrapped_.data() + before_end, data_, size - before_end);
          err = callback_(ctx_, wrapped_.data(), size);
        }
        handed++;
      }
      __atomic_store_n(consumer_pos_, consumer, __ATOMIC_RELEASE);
      if (err < 0) return err;
    }
  }
  return handed;
}

}  // namespace perfbpf
