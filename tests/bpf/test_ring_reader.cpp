// The ring reader (collect/ring_reader.h). On a ring the kernel fills with a sequence the test
// chooses (tests/bpf/ring_fixture.bpf.c, run through BPF_PROG_TEST_RUN): every record's length and
// bytes are known, so wrap-around, discarded records, a record reserved but not yet committed,
// the consumer position seen by the kernel (its free room, its wake-ups) are checked exactly.
// Then on the funclat ring, driven from inside this process: a function of ours is probed and
// called while a reader thread reads. Truths: /proc/self/smaps (what the ring holds resident),
// the calls this thread made (count, order, its own tid), and the programs' own count of records
// that found no room.
#include <bpf/bpf.h>
#include <poll.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <memory>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <linux/types.h>

#include "collect/ring_reader.h"
#include "funclat.h"
#include "ring_fixture.h"
#include "ring_fixture.skel.h"
#include "session/funclat_session.h"
#include "session/self_probe.h"
#include "util/unique_fd.h"

extern "C" uint64_t perfbpf_calib_optimized(uint64_t);

using namespace perfbpf;

namespace {

volatile uint64_t g_sink;

struct Mapping {
  uint64_t size_kib = 0, rss_kib = 0;
};

// This process's mappings of BPF maps (anon_inode:bpf-map), with their sizes and resident KiB.
std::vector<Mapping> bpf_map_mappings() {
  std::ifstream in("/proc/self/smaps");
  std::vector<Mapping> out;
  bool ours = false;
  for (std::string line; std::getline(in, line);) {
    std::istringstream row(line);
    std::string first, key;
    row >> first;
    if (first.back() != ':') {  // a mapping's first line: range perms offset dev inode path
      std::string skip, path;
      row >> skip >> skip >> skip >> skip >> path;
      ours = path == "anon_inode:bpf-map";
      if (ours) out.emplace_back();
    } else if (ours && (first == "Size:" || first == "Rss:")) {
      uint64_t kib = 0;
      row >> kib;
      (first == "Size:" ? out.back().size_kib : out.back().rss_kib) = kib;
    }
  }
  return out;
}

FuncLatSettings settings_for(const PlannedProbe& target, uint32_t ring_bytes) {
  FuncLatSettings s;
  s.max_threads = 64;
  s.needs = funclat_needs({target});
  s.ring_bytes = ring_bytes;
  return s;
}

PlannedProbe own_target() {
  return plan_own_function(reinterpret_cast<uintptr_t>(&perfbpf_calib_optimized), "perfbpf_calib_optimized", 16,
                           ProbeMethod::Uretprobe);
}

struct FixtureDeleter {
  void operator()(ring_fixture_bpf* s) const { ring_fixture_bpf__destroy(s); }
};
using Fixture = std::unique_ptr<ring_fixture_bpf, FixtureDeleter>;

Fixture load_fixture() {
  Fixture skel(ring_fixture_bpf__open_and_load());
  REQUIRE(skel);
  return skel;
}

int try_run(bpf_program* prog, ring_fixture_args args) {
  LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &args, .ctx_size_in = sizeof(args));
  return bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
}

void run(bpf_program* prog, ring_fixture_args args) { REQUIRE(try_run(prog, args) == 0); }

// A page whose first read waits until the test fills it (userfaultfd): a BPF program reading it
// sleeps there, with whatever it reserved still reserved, for as long as the test wants.
class Gate {
 public:
  Gate() : page_(static_cast<size_t>(sysconf(_SC_PAGESIZE))) {
    uffd_.reset(static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC)));
    REQUIRE(uffd_);
    uffdio_api api{.api = UFFD_API, .features = 0, .ioctls = 0};
    REQUIRE(ioctl(uffd_.get(), UFFDIO_API, &api) == 0);
    addr_ = mmap(nullptr, page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(addr_ != MAP_FAILED);
    uffdio_register reg{.range = {reinterpret_cast<uintptr_t>(addr_), page_}, .mode = UFFDIO_REGISTER_MODE_MISSING,
                        .ioctls = 0};
    REQUIRE(ioctl(uffd_.get(), UFFDIO_REGISTER, &reg) == 0);
  }
  ~Gate() {
    open(0);  // never leaves a reader asleep
    munmap(addr_, page_);
  }
  uint64_t address() const { return reinterpret_cast<uintptr_t>(addr_); }
  // Whether a read is waiting at the gate within TIMEOUT_MS (a bound on "never", not a timing).
  bool wait_reader(int timeout_ms) {
    pollfd p{uffd_.get(), POLLIN, 0};
    uffd_msg msg{};
    return poll(&p, 1, timeout_ms) == 1 && read(uffd_.get(), &msg, sizeof(msg)) == sizeof(msg) &&
           msg.event == UFFD_EVENT_PAGEFAULT;
  }
  // Fills the page with WORD first, which wakes the reader (once; later calls do nothing).
  void open(uint32_t word) {
    if (opened_) return;
    opened_ = true;
    std::vector<unsigned char> src(page_);
    std::memcpy(src.data(), &word, sizeof(word));
    uffdio_copy copy{.dst = address(), .src = reinterpret_cast<uintptr_t>(src.data()), .len = page_, .mode = 0,
                     .copy = 0};
    CHECK(ioctl(uffd_.get(), UFFDIO_COPY, &copy) == 0);
  }

 private:
  size_t page_;
  UniqueFd uffd_;
  void* addr_ = nullptr;
  bool opened_ = false;
};

// What a reader handed on, record by record.
struct Received {
  std::vector<std::vector<uint32_t>> records;
  int stop_after = -1;  // the callback returns -1 on this record (counted from 0)

  static int on(void* ctx, const void* data, size_t size) {
    auto* self = static_cast<Received*>(ctx);
    std::vector<uint32_t> words(size / 4 + (size % 4 != 0));
    std::memcpy(words.data(), data, size);
    self->records.push_back(std::move(words));
    if (size % 4) self->records.back().push_back(0xdeadbeef);  // a length the fixture never writes
    return static_cast<int>(self->records.size()) - 1 == self->stop_after ? -1 : 0;
  }
};

std::vector<uint32_t> expected_record(uint32_t seq) {
  std::vector<uint32_t> words(ring_fixture_words(seq));
  for (uint32_t k = 0; k < words.size(); k++) words[k] = ring_fixture_word(seq, k);
  return words;
}

uint64_t ring_bytes(uint32_t payload_bytes) { return (payload_bytes + BPF_RINGBUF_HDR_SZ + 7) / 8 * 8; }

// Whether the epoll descriptor has been woken within TIMEOUT_MS.
bool woken(int epoll_fd, int timeout_ms) {
  epoll_event ev{};
  return epoll_wait(epoll_fd, &ev, 1, timeout_ms) == 1;
}

}  // namespace

TEST_CASE("the ring reader hands on the kernel's records byte for byte across the ring's end, skipping discarded ones",
          "[bpf]") {
  Fixture skel = load_fixture();
  Received got;
  RingReader reader(bpf_map__fd(skel->maps.ring), &Received::on, &got);
  REQUIRE(reader.data_bytes() == RING_FIXTURE_BYTES);
  constexpr uint32_t kBatches = 300, kBatch = 48, kDiscardEvery = 7;
  // 48 records of at most 72 ring bytes fit in the ring: drained between batches, none is lost.
  static_assert(kBatch * (RING_FIXTURE_MAX_WORDS * 4 + 8) <= RING_FIXTURE_BYTES);
  std::vector<uint32_t> want;
  uint64_t pos = 0, crossing = 0, handed = 0;
  for (uint32_t b = 0; b < kBatches; b++) {
    run(skel->progs.emit, {b * kBatch, kBatch, kDiscardEvery, 0, 0});
    handed += static_cast<uint64_t>(reader.consume());
    for (uint32_t seq = b * kBatch; seq < (b + 1) * kBatch; seq++) {
      const bool discard = seq % kDiscardEvery == 0;
      const uint32_t bytes = discard ? RING_FIXTURE_MAX_WORDS * 4 : ring_fixture_words(seq) * 4;
      // The truth of which records the kernel laid across the end of its data area.
      if (!discard) crossing += pos % RING_FIXTURE_BYTES + BPF_RINGBUF_HDR_SZ + bytes > RING_FIXTURE_BYTES;
      pos += ring_bytes(bytes);
      if (!discard) want.push_back(seq);
    }
  }
  INFO(got.records.size() << " records received, " << want.size() << " written, " << crossing << " across the end");
  CHECK(skel->bss->lost == 0);
  CHECK(skel->bss->discarded == kBatches * kBatch - want.size());
  CHECK(handed == want.size());
  REQUIRE(got.records.size() == want.size());
  size_t wrong = 0;
  for (size_t i = 0; i < want.size(); i++) wrong += got.records[i] != expected_record(want[i]);
  CHECK(wrong == 0);
  CHECK(crossing > 100);  // the case under test happened, many times
  // Everything read was given back: the kernel sees no data left.
  run(skel->progs.query, {});
  CHECK(skel->bss->avail_after == 0);
}

TEST_CASE("the ring reader stops at a record reserved but not yet committed, and reads on once it is", "[bpf]") {
  Fixture skel = load_fixture();
  Received got;
  RingReader reader(bpf_map__fd(skel->maps.ring), &Received::on, &got);
  // Moves the ring's positions so the held record is not at offset 0.
  run(skel->progs.emit, {1, 5, 0, 0, 0});
  REQUIRE(reader.consume() == 5);
  got.records.clear();
  Gate gate;
  int held_run = -1;
  std::thread producer([&] { held_run = try_run(skel->progs.hold, {100, 0, 0, 0, gate.address()}); });
  // Once the program waits at the gate, record 100 is reserved (BUSY) and record 101 after it
  // is committed: neither may be handed on.
  const bool waiting = gate.wait_reader(10'000);
  const int64_t while_held = waiting ? reader.consume() : -1000;
  const bool still_held = skel->bss->holding;
  gate.open(7);
  producer.join();
  REQUIRE(waiting);
  CHECK(held_run == 0);
  CHECK(still_held);
  CHECK(skel->bss->gate_read == 0);
  CHECK(skel->bss->gate_word == 7);
  CHECK(while_held == 0);
  CHECK(got.records.empty());
  CHECK(reader.consume() == 2);
  REQUIRE(got.records.size() == 2);
  std::vector<uint32_t> held(RING_FIXTURE_MAX_WORDS);
  for (uint32_t k = 0; k < held.size(); k++) held[k] = ring_fixture_word(100, k);
  CHECK(got.records[0] == held);
  CHECK(got.records[1] == expected_record(101));
  CHECK(skel->bss->lost == 0);
}

TEST_CASE("the ring reader gives back each record it read: the kernel wakes it for the next one, and a stop resumes "
          "after the stopping record",
          "[bpf]") {
  Fixture skel = load_fixture();
  Received got;
  RingReader reader(bpf_map__fd(skel->maps.ring), &Received::on, &got);
  // The kernel wakes a ring's readers when a record is committed at the consumer position
  // (kernel/bpf/ringbuf.c): a position not given back would leave the next record unannounced.
  for (uint32_t seq = 1; seq <= 3; seq++) {
    CHECK_FALSE(woken(reader.epoll_fd(), 0));
    run(skel->progs.emit, {seq, 1, 0, 0, 0});
    CHECK(woken(reader.epoll_fd(), 5000));
    CHECK(reader.consume() == 1);
  }
  // A callback that stops on the 2nd of 4 records: the read returns its value, and the next read
  // starts at the 3rd (the stopping record counts as read).
  got.records.clear();
  got.stop_after = 1;
  run(skel->progs.emit, {10, 4, 0, 0, 0});
  CHECK(reader.consume() == -1);
  got.stop_after = -1;
  CHECK(reader.consume() == 2);
  REQUIRE(got.records.size() == 4);
  for (uint32_t i = 0; i < 4; i++) CHECK(got.records[i] == expected_record(10 + i));
  run(skel->progs.query, {});
  CHECK(skel->bss->avail_after == 0);
}

TEST_CASE("the ring's data is mapped once: it holds its size resident, not twice", "[bpf]") {
  constexpr uint32_t kRing = 1u << 20;  // larger than any other map the session maps
  const uint64_t page_kib = static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) / 1024;
  FuncLatSession bpf(settings_for(own_target(), kRing), [](const CallRecord&) {});
  uint64_t data_mappings = 0, largest_rss = 0;
  for (const Mapping& m : bpf_map_mappings()) {
    INFO("a BPF map mapping of " << m.size_kib << " KiB, " << m.rss_kib << " KiB resident");
    CHECK(m.size_kib < 2 * kRing / 1024);  // libbpf's reader maps producer page + 2 x data
    data_mappings += m.size_kib == page_kib + kRing / 1024;
    largest_rss = std::max(largest_rss, m.rss_kib);
  }
  CHECK(data_mappings == 1);
  // The kernel fills a ring mapping when it is made: the producer page and the data, once.
  CHECK(largest_rss == page_kib + kRing / 1024);
}

TEST_CASE("records crossing the ring's end are handed on whole: every call received in order or counted lost",
          "[bpf]") {
  // One page of ring: 56-byte records (48 + the ring's 8-byte header) cross its end once a lap,
  // so ~300 of these calls arrive split in two and are made whole by the reader.
  const uint32_t ring = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  const uint32_t tid = static_cast<uint32_t>(syscall(SYS_gettid));
  std::atomic<uint64_t> received{0}, wrong{0};
  uint64_t last_start = 0;
  FuncLatSession bpf(settings_for(own_target(), ring), [&](const CallRecord& r) {
    // A record pieced together wrongly would not be this thread's next call of probe 0.
    const bool right = r.probe_id == 0 && r.tid == tid && r.tgid == static_cast<uint32_t>(getpid()) &&
                       r.depth == 0 && r.nested_calls == 0 && r.start_ns > last_start && r.duration_ns < 1'000'000'000;
    wrong += !right;
    last_start = r.start_ns;
    received++;
  });
  bpf.add_target_tgid(static_cast<uint32_t>(getpid()));
  bpf.attach({own_target()}, getpid());
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    pollfd fd{bpf.epoll_fd(), POLLIN, 0};
    while (!stop.load()) {
      poll(&fd, 1, 10);
      bpf.consume();
    }
  });
  constexpr uint64_t kCalls = 20'000;
  for (uint64_t i = 0; i < kCalls; i++) g_sink = g_sink + perfbpf_calib_optimized(i);
  stop = true;
  reader.join();
  bpf.detach_and_drain();
  const uint64_t lost = bpf.losses()[FUNCLAT_LOSS_RINGBUF_FULL];
  std::fprintf(stderr, "ring reader, one-page ring: %llu calls, %llu received, %llu lost (ring full)\n",
               (unsigned long long)kCalls, (unsigned long long)received.load(), (unsigned long long)lost);
  CHECK(wrong.load() == 0);
  CHECK(bpf.malformed_records() == 0);
  CHECK(received.load() + lost == kCalls);
  // Enough went through to have crossed the end many times (one 4 KiB lap is 73 records).
  CHECK(received.load() * 56 > 20 * ring);
}
