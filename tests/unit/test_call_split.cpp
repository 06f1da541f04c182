// --decompose's userspace half: split calls folded per function (all calls and the p99 band),
// the slowest kept whole in bounded memory, the record decoded from its BPF layout, and the
// report's shape through JSON and back.
#include <catch2/catch.hpp>

#include <linux/types.h>

#include <cstring>
#include <filesystem>
#include <sstream>

#include "aggregate/aggregator.h"
#include "collect/funclat_decoder.h"
#include "funclat.h"
#include "analysis/analyze.h"
#include "report/decomposition_text.h"
#include "report/json_report.h"
#include "session/slow_calls.h"

using namespace perfbpf;
namespace fs = std::filesystem;

namespace {

// Call I of a function: I us long, of which I x 10 ns waiting for a CPU, I x 100 ns in I/O,
// I x 200 ns on a lock, I x 300 ns asleep; the rest (I x 400 ns) on CPU.
CallRecord split_call(uint64_t i) {
  CallRecord r;
  r.probe_id = 0;
  r.tgid = 100;
  r.tid = 101;
  r.start_ns = 1'000'000 * i;
  r.duration_ns = 1000 * i;
  r.has_split = true;
  r.split.runqueue = 100 * i;
  r.split.io = 100 * i;
  r.split.lock = 200 * i;
  r.split.sleep = 200 * i;
  r.split.wait_ns = 200 * i;
  r.split.wait_kind = 1;
  r.split.holder_tid = 102;
  r.split.flags = kSplitHolderOwner | (i == 7 ? kSplitMissed : 0);
  return r;
}

}  // namespace

TEST_CASE("split calls: per-part distributions over all calls and over the p99 band", "[split]") {
  Aggregator agg(1);
  for (uint64_t i = 1; i <= 1000; i++) agg.add(split_call(i));
  std::vector<FunctionProfile> f(1);
  agg.fill(f);
  const CallDecomposition& d = f[0].decomposition;
  CHECK(d.calls == 1000);
  CHECK(d.incomplete == 1);
  // Totals are exact: sum of I for I = 1..1000 is 500500.
  CHECK(d.runqueue.total == 100 * 500500);
  CHECK(d.io.total == 100 * 500500);
  CHECK(d.lock.total == 200 * 500500);
  CHECK(d.sleep.total == 200 * 500500);
  CHECK(d.on_cpu.total == 400 * 500500);
  CHECK(d.on_cpu.total + d.runqueue.total + d.io.total + d.lock.total + d.sleep.total == f[0].latency.total);
  CHECK(d.lock.mean == Approx(200 * 500.5));
  CHECK(d.lock.p50 == Approx(200 * 500).epsilon(LatencyHistogram::kMaxRelativeError * 2));
  // The band: the 10 slowest calls (991..1000).
  const CallDecomposition& band = f[0].decomposition_p99;
  CHECK(band.calls == 10);
  CHECK(band.incomplete == 0);
  CHECK(band.lock.total == 200 * (991 + 992 + 993 + 994 + 995 + 996 + 997 + 998 + 999 + 1000));
  CHECK(band.on_cpu.mean == Approx(400 * 995.5));
}

TEST_CASE("split calls: the slowest are kept in bounded memory, slowest first", "[split]") {
  Aggregator agg(1);
  // More calls than are kept, the slowest in the middle of the stream.
  for (uint64_t i = 1; i <= 3000; i++) agg.add(split_call(i <= 1500 ? i : 3001 - i + 1500));
  const SplitBook* book = agg.split_book(0);
  REQUIRE(book);
  std::vector<SplitBook::Kept> slow = book->slowest(5);
  REQUIRE(slow.size() == 5);
  CHECK(slow[0].duration_ns == 1000 * 3000);
  for (size_t i = 1; i < slow.size(); i++) CHECK(slow[i].duration_ns <= slow[i - 1].duration_ns);
  CHECK(book->slowest(100000).size() == SplitBook::kKept);
  // A function whose calls carry no split has no book (most sessions).
  Aggregator plain(1);
  CallRecord r = split_call(1);
  r.has_split = false;
  plain.add(r);
  CHECK(plain.split_book(0) == nullptr);
  std::vector<FunctionProfile> f(1);
  plain.fill(f);
  CHECK(f[0].decomposition.calls == 0);

  SlowCall s = slow_call(slow[0], 1'000'000);
  CHECK(s.duration_ns == slow[0].duration_ns);
  CHECK(s.on_cpu + s.runqueue + s.io + s.lock + s.sleep == s.duration_ns);
  CHECK(s.wait_kind == "lock");
  CHECK(s.holder_tid == 102);
  CHECK(s.holder_source == "mutex-owner");
}

TEST_CASE("split calls: the BPF record with its split decodes, and a plain one has none", "[split]") {
  funclat_split_event e{};
  e.call.start_ns = 5;
  e.call.duration_ns = 1000;
  e.call.probe_id = 3;
  e.split.runq_ns = 10;
  e.split.io_ns = 20;
  e.split.lock_ns = 30;
  e.split.sleep_ns = 40;
  e.split.wait_ns = 30;
  e.split.wait_kstack = 7;
  e.split.wait_ustack = -1;
  e.split.wait_kind = FUNCLAT_WAIT_LOCK;
  e.split.holder_tid = 99;
  e.split.holder_probe = 1;
  e.split.flags = FUNCLAT_SPLIT_HOLDER_PI;
  e.split.waker_tid = 98;
  e.split.waker_ustack = 5;
  e.split.waker_copy = 6;
  CallRecord r;
  REQUIRE(decode_funclat_event(&e, sizeof(e), r));
  CHECK(r.has_split);
  CHECK(r.probe_id == 3);
  CHECK(r.split.runqueue == 10);
  CHECK(r.split.io == 20);
  CHECK(r.split.lock == 30);
  CHECK(r.split.sleep == 40);
  CHECK(r.split.wait_kstack == 7);
  CHECK(r.split.wait_ustack == -1);
  CHECK(r.split.holder_tid == 99);
  CHECK(r.split.holder_probe == 1);
  CHECK(r.split.flags == kSplitHolderPi);
  CHECK(r.split.waker_tid == 98);
  CHECK(r.split.waker_ustack == 5);
  CHECK(r.split.waker_copy == 6);
  CHECK(std::string(wait_kind_name(r.split.wait_kind)) == "lock");
  REQUIRE(decode_funclat_event(&e.call, sizeof(e.call), r));
  CHECK_FALSE(r.has_split);
  CHECK_FALSE(decode_funclat_event(&e, sizeof(e) - 8, r));
}

TEST_CASE("split calls: decomposition and slowest calls survive JSON, and validate against the schema", "[split][report]") {
  Profile p;
  p.session.mode = "command";
  p.session.end_reason = "target-exited";
  p.session.start = "2026-11-30T12:00:00Z";
  Aggregator agg(1);
  for (uint64_t i = 1; i <= 300; i++) agg.add(split_call(i));
  p.functions.resize(1);
  p.functions[0].name = p.functions[0].demangled = "handle_request";
  p.functions[0].object = "/usr/bin/service";
  agg.fill(p.functions);
  for (const auto& k : agg.split_book(0)->slowest(5)) p.functions[0].slowest_calls.push_back(slow_call(k, 0));
  p.functions[0].slowest_calls[0].wait_stack = {{"futex_wait", "[kernel]"}, {"cache_get", "/usr/bin/service"}};
  p.functions[0].slowest_calls[0].holder_function = "cache_refresh";
  p.functions[0].slowest_calls[0].holder_source = "futex-waker";
  p.functions[0].slowest_calls[0].holder_stack = {{"__lll_lock_wake", "/lib/libc.so.6"},
                                                  {"pthread_mutex_unlock", "/lib/libc.so.6"},
                                                  {"cache_refresh", "/usr/bin/service"}};
  p.functions[0].slowest_calls[1].wait_kind.clear();  // one that never blocked: no "wait"
  p.functions[0].slowest_calls[1].wait_ns = 0;

  p.events.split_by_reason = {{"split_no_storage", 1}, {"split_switch_in_unseen", 2}, {"wait_stack_lost", 3}};
  Profile back = profile_from_json(to_json(p));
  CHECK(back.events.split_by_reason == p.events.split_by_reason);
  std::ostringstream text;
  write_decomposition(p, text);
  CHECK_THAT(text.str(), Catch::Contains("1 calls not split") && Catch::Contains("2 waits closed late") &&
                             Catch::Contains("3 wait stacks not kept"));
  CHECK_THAT(text.str(), Catch::Contains("(lock held by tid 102 in pthread_mutex_unlock <- cache_refresh)"));
  const FunctionProfile& a = p.functions[0];
  const FunctionProfile& b = back.functions[0];
  for (auto [x, y] : {std::pair{&a.decomposition, &b.decomposition}, std::pair{&a.decomposition_p99, &b.decomposition_p99}}) {
    CHECK(y->calls == x->calls);
    CHECK(y->incomplete == x->incomplete);
    for (auto [u, v] : {std::pair{&x->on_cpu, &y->on_cpu}, std::pair{&x->runqueue, &y->runqueue}, std::pair{&x->io, &y->io},
                        std::pair{&x->lock, &y->lock}, std::pair{&x->sleep, &y->sleep}}) {
      CHECK(v->mean == Approx(u->mean));
      CHECK(v->p50 == u->p50);
      CHECK(v->p99 == u->p99);
      CHECK(v->total == u->total);
    }
  }
  REQUIRE(b.slowest_calls.size() == a.slowest_calls.size());
  for (size_t i = 0; i < a.slowest_calls.size(); i++) {
    const SlowCall &x = a.slowest_calls[i], &y = b.slowest_calls[i];
    CHECK(y.start_ns == x.start_ns);
    CHECK(y.tid == x.tid);
    CHECK(y.duration_ns == x.duration_ns);
    CHECK(y.lock == x.lock);
    CHECK(y.on_cpu == x.on_cpu);
    CHECK(y.incomplete == x.incomplete);
    CHECK(y.wait_kind == x.wait_kind);
    CHECK(y.wait_ns == x.wait_ns);
    CHECK(y.wait_stack.size() == x.wait_stack.size());
    CHECK(y.holder_tid == (x.wait_kind.empty() ? 0 : x.holder_tid));
    CHECK(y.holder_function == (x.wait_kind.empty() ? "" : x.holder_function));
    CHECK(y.holder_source == (x.wait_kind.empty() ? "" : x.holder_source));
    REQUIRE(y.holder_stack.size() == (x.wait_kind.empty() ? 0 : x.holder_stack.size()));
    for (size_t k = 0; k < y.holder_stack.size(); k++) {
      CHECK(y.holder_stack[k].name == x.holder_stack[k].name);
      CHECK(y.holder_stack[k].object == x.holder_stack[k].object);
    }
  }
  CHECK(b.slowest_calls[0].holder_stack.size() == 3);
  CHECK(b.slowest_calls[0].wait_stack[1].name == "cache_get");
  // Without --decompose the function's JSON is as before.
  Profile plain = p;
  plain.functions[0].decomposition = {};
  plain.events.split_by_reason = {};
  CHECK_FALSE(to_json(plain)["functions"][0].contains("decomposition_ns"));
  CHECK_FALSE(to_json(plain)["events"].contains("split_by_reason"));

  fs::path dir = fs::path(PERFBPF_WORKLOADS) / ".." / "reports";
  fs::create_directories(dir);
  write_json_report(p, (dir / "decomposed.json").string());
  CHECK(fs::exists(dir / "decomposed.json"));
}

TEST_CASE("split calls: a function whose p99 calls are lock-bound gets a finding naming the lock's site and holder", "[split][analysis]") {
  Profile p;
  p.session.pid = 4242;
  Aggregator agg(1);
  for (uint64_t i = 1; i <= 200; i++) {
    CallRecord r = split_call(i);
    r.split.io = r.split.sleep = r.split.runqueue = 0;
    if (i > 190) {  // the slowest calls wait on the lock most of their time
      r.duration_ns = 10000 * i;
      r.split.lock = 9000 * i;
    }
    agg.add(r);
  }
  p.functions.resize(1);
  p.functions[0].name = p.functions[0].demangled = "handle_request";
  agg.fill(p.functions);
  SlowCall c = slow_call(agg.split_book(0)->slowest(1)[0], 0);
  c.wait_stack = {{"futex_do_wait", "[kernel]"}, {"pthread_mutex_lock", "libc.so.6"}, {"cache_get", "/srv/app"}};
  c.holder_function = "cache_refresh";
  p.functions[0].slowest_calls = {c};
  const AnalysisSection a = analyze_profile(p, {});
  const Bottleneck* found = nullptr;
  for (const auto& b : a.bottlenecks)
    if (b.id == "lock-bound-p99:handle_request") found = &b;
  REQUIRE(found);
  CHECK(found->evidence.value > 50);
  CHECK(found->evidence.detail.find("pthread_mutex_lock <- cache_get") != std::string::npos);
  CHECK(found->evidence.detail.find("held by tid 102 in cache_refresh") != std::string::npos);
  bool advised = false;
  for (const auto& r : a.recommendations)
    if (r.because == std::vector<std::string>{found->id}) advised = r.text.find("cache_refresh") != std::string::npos;
  CHECK(advised);

  // The same function with its slow calls mostly on CPU: no finding.
  Profile busy = p;
  busy.functions[0].decomposition_p99.lock.total = 0;
  for (const auto& b : analyze_profile(busy, {}).bottlenecks) CHECK(b.id != found->id);
  {  // the holder seen unlocking: its stack is named
    p.functions[0].slowest_calls[0].holder_source = "futex-waker";
    // libc's internals under the lock and unlock are not the call site: from its entry on.
    p.functions[0].slowest_calls[0].wait_stack = {{"futex_do_wait", "[kernel]"}, {"__lll_lock_wait", "libc.so.6"},
                                                  {"pthread_mutex_lock", "libc.so.6"}, {"cache_get", "/srv/app"},
                                                  {"handle_request", "/srv/app"}, {"main", "/srv/app"}};
    p.functions[0].slowest_calls[0].holder_stack = {{"__lll_lock_wake", "libc.so.6"}, {"pthread_mutex_unlock", "libc.so.6"},
                                                    {"cache_refresh", "/srv/app"}, {"refresh_loop", "/srv/app"},
                                                    {"start_thread", "libc.so.6"}};
    const AnalysisSection with_stack = analyze_profile(p, {});
    bool named = false;
    for (const auto& b : with_stack.bottlenecks)
      if (b.id == "lock-bound-p99:handle_request")
        named = b.evidence.detail.find("under pthread_mutex_lock <- cache_get <- handle_request (") != std::string::npos &&
                b.evidence.detail.find("held by tid 102 in pthread_mutex_unlock <- cache_refresh <- refresh_loop)") !=
                    std::string::npos;
    CHECK(named);
  }
}

TEST_CASE("split calls: a user stack joins its CFI frames to the frame-pointer walk where they meet", "[split]") {
  // CFI sees through libc's unlock (no frame pointers) to its caller 0x30; frame pointers skip
  // 0x20 and 0x30 (the walk starts at the caller's frame) and go on past the copied window.
  const std::vector<uint64_t> cfi = {0x10, 0x20, 0x30, 0x40}, fp = {0x10, 0x40, 0x50, 0x60};
  CHECK(join_user_stack(cfi, false, fp) == std::vector<uint64_t>{0x10, 0x20, 0x30, 0x40, 0x50, 0x60});
  CHECK(join_user_stack(cfi, true, fp) == cfi);  // CFI reached the outermost frame
  CHECK(join_user_stack({0x10, 0x20}, false, fp) == std::vector<uint64_t>{0x10, 0x20});  // never meet: no guess
  CHECK(join_user_stack({0x10}, false, fp) == fp);  // nothing unwound by CFI
  CHECK(join_user_stack({}, false, fp) == fp);
  CHECK(join_user_stack(cfi, false, {}) == cfi);
  // A probed function's return address taken over by its uretprobe (the trampoline page at
  // 0x7000): the frame-pointer walk has the original, 0x35, before the next frame both found.
  const std::pair<uint64_t, uint64_t> tramp{0x7000, 0x8000};
  CHECK(join_user_stack({0x10, 0x20, 0x30, 0x7000, 0x40}, true, {0x10, 0x35, 0x40}, tramp) ==
        std::vector<uint64_t>{0x10, 0x20, 0x30, 0x35, 0x40});
  // No frame after it to place the original by: CFI's frames stop before it.
  CHECK(join_user_stack({0x10, 0x20, 0x7000}, true, {0x10, 0x35, 0x40}, tramp) == std::vector<uint64_t>{0x10, 0x20});
}
