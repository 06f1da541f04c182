// Reading a BPF ring buffer (BPF_MAP_TYPE_RINGBUF) from userspace with its data pages mapped once.
//
// libbpf's ring_buffer maps the data area twice in a row, as the kernel lays it out in its own
// address space, so that a record crossing the end reads as one piece. The kernel fills every
// page of a ring mapping when it is made (remap_vmalloc_range), so that reader holds twice the
// ring resident: 1 MiB for function timing's 512 KiB ring, a ninth of a session's peak RSS.
// This reader maps the data once; a record crossing the end (at most one per lap) is copied whole
// into a buffer before it is handed on, the others are handed on in place.
//
// The protocol is the kernel's (kernel/bpf/ringbuf.c), the one libbpf reads: a consumer page
// (consumer_pos, the only page userspace may write), a producer page (producer_pos), then the
// data; each record is an 8-byte header (u32 length with the BUSY and DISCARD bits, u32 page
// offset) and its bytes, rounded up to 8. A record still BUSY ends a read; the reader moves
// consumer_pos past each record once handed on, with release order, so the kernel never reuses
// bytes still being read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "util/unique_fd.h"

namespace perfbpf {

class RingReader {
 public:
  // Called with each record's bytes (valid only during the call). A negative return stops the
  // read and is returned by consume(); the record counts as read.
  using Callback = int (*)(void* ctx, const void* data, size_t size);

  // MAP_FD: a BPF_MAP_TYPE_RINGBUF map. Throws Error (errno) if it cannot be read or mapped.
  RingReader(int map_fd, Callback callback, void* ctx);
  ~RingReader();
  RingReader(const RingReader&) = delete;
  RingReader& operator=(const RingReader&) = delete;

  // An epoll descriptor that is readable while records are queued (the kernel wakes it when a
  // producer forces a wake-up); for a caller's own epoll loop or poll(2).
  int epoll_fd() const { return epoll_.get(); }
  // Hands every committed record on, in order; returns how many, or the callback's negative value.
  int64_t consume();
  // The ring's data bytes (its max_entries).
  size_t data_bytes() const { return mask_ + 1; }

 private:
  Callback callback_;
  void* ctx_;
  UniqueFd epoll_;
  size_t page_ = 0;
  size_t mask_ = 0;
  unsigned long* consumer_pos_ = nullptr;  // the consumer page, mapped read-write
  unsigned char* producer_page_ = nullptr;  // producer page then the data, mapped read-only once
  const unsigned long* producer_pos_ = nullptr;
  const unsigned char* data_ = nullptr;
  std::vector<unsigned char> wrapped_;  // a record crossing the end, made whole
};

}  // namespace perfbpf
