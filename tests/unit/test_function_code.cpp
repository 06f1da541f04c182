// Return sites and probe-ability from machine code: hand-assembled functions with known
// exits, the kernel's refusal rules, and every function of the build's own workloads.
#include <linux/types.h>

#include <catch2/catch.hpp>

#include <vector>

#include "funclat.h"
#include "symbols/elf_symbols.h"
#include "symbols/function_code.h"
#include "symbols/probe_site.h"
#include "process.h"

using namespace perfbpf;

namespace {

constexpr uint64_t kAt = 0x401000;  // where the test code "is loaded"

FunctionCode analyze(const std::vector<uint8_t>& code, CodeContext ctx = {}) {
  return analyze_function(code.data(), code.size(), kAt, ctx);
}

std::vector<uint8_t> bytes(std::initializer_list<uint8_t> b) { return b; }

}  // namespace

TEST_CASE("the kernel's refusals are recognised before attaching", "[probe_plan]") {
  auto refusal = [](std::vector<uint8_t> b) { return uprobe_refusal(b.data(), b.size()); };
  CHECK(refusal({0xf0, 0x0f, 0xb1, 0x37}).find("LOCK") != std::string::npos);  // lock cmpxchg: pthread_spin_lock
  CHECK(refusal({0x3e, 0xff, 0xe0}).find("segment") != std::string::npos);     // notrack jmp *%rax
  CHECK(refusal({0xcc}).find("0xcc") != std::string::npos);                    // int3
  CHECK(refusal({0x66, 0xe8, 0x00, 0x00}).find("16-bit") != std::string::npos);
  CHECK(refusal({0x8e, 0xd0}).find("SS") != std::string::npos);                // mov %eax, %ss
  CHECK(refusal({0x48, 0x89, 0xf8}).empty());                                  // mov %rdi, %rax
  CHECK(refusal({0x55}).empty());                                              // push %rbp
  CHECK(refusal({0xf3, 0x0f, 0x1e, 0xfa}).empty());                            // endbr64
  CHECK(refusal({0xc3}).empty());                                              // ret
  CHECK(refusal({0xf2, 0xc3}).empty());                                        // bnd ret
  CHECK(refusal({0xc5, 0xf8, 0x77}).empty());                                  // vzeroupper (VEX)
  CHECK(refusal({0x0f, 0x05}).empty());                                        // syscall
}

// The plan decodes (loads libcapstone for) only single-stepped entries: every first instruction
// the site classifier calls optimized or emulated must be one uprobes accept. Every first
// byte, with and without REX.B and endbr64 before it, and every two-byte 0x0f opcode.
TEST_CASE("every optimized or emulated entry site is one the kernel probes", "[probe_plan]") {
  std::vector<std::vector<uint8_t>> firsts;
  for (unsigned b = 0; b < 256; b++) {
    firsts.push_back({static_cast<uint8_t>(b), 0x00, 0x00, 0x00, 0x00, 0x00});
    firsts.push_back({0x41, static_cast<uint8_t>(b), 0x00, 0x00, 0x00, 0x00});
    firsts.push_back({0x0f, static_cast<uint8_t>(b), 0x00, 0x00, 0x00, 0x00});
    firsts.push_back({0x0f, 0x1f, 0x44, 0x00, static_cast<uint8_t>(b)});
  }
  size_t cheap = 0;
  for (auto code : firsts) {
    for (bool endbr : {false, true}) {
      std::vector<uint8_t> at = code;
      if (endbr) at.insert(at.begin(), {0xf3, 0x0f, 0x1e, 0xfa});
      const ProbeSite site = classify_probe_site(at.data(), at.size());
      if (site.kind == ProbeSiteKind::SingleStepped) continue;
      cheap++;
      INFO("bytes at the probe: " << std::hex << int(at[site.offset_in_function]) << " "
                                  << int(at[site.offset_in_function + 1]));
      CHECK(uprobe_refusal(at.data() + site.offset_in_function, at.size() - site.offset_in_function).empty());
    }
  }
  CHECK(cheap > 600);  // push r, nop, call/jmp, jcc rel8/rel32 and NOP5s, each also behind endbr64
}

TEST_CASE("a framed function: one ret at the entry stack pointer, and it calls", "[probe_plan]") {
  // push %rbp; mov %rsp,%rbp; call .+5; pop %rbp; ret
  FunctionCode f = analyze(bytes({0x55, 0x48, 0x89, 0xe5, 0xe8, 0, 0, 0, 0, 0x5d, 0xc3}));
  REQUIRE(f.decoded);
  CHECK(f.makes_calls);
  CHECK_FALSE(f.calls_through_pointer);
  REQUIRE(f.exits.size() == 1);
  CHECK(f.exits[0].kind == ExitKind::Return);
  CHECK(f.exits[0].offset == 10);
  CHECK(f.exits[0].at_entry_sp);
  CHECK(f.exits[0].refusal.empty());
}

TEST_CASE("a leaf calls nothing: no exception can pass through it", "[probe_plan]") {
  FunctionCode f = analyze(bytes({0x48, 0x8d, 0x47, 0x01, 0xc3}));  // lea 1(%rdi),%rax; ret
  CHECK_FALSE(f.makes_calls);
  REQUIRE(f.exits.size() == 1);
  CHECK(f.exits[0].offset == 4);
}

TEST_CASE("tail calls are exits: jmp, jcc, and a frame torn down by leave", "[probe_plan]") {
  SECTION("jmp after the frame is gone") {
    // sub $8,%rsp; call .+5; add $8,%rsp; jmp far
    FunctionCode f = analyze(bytes({0x48, 0x83, 0xec, 0x08, 0xe8, 0, 0, 0, 0, 0x48, 0x83, 0xc4, 0x08, 0xe9, 0, 0x10, 0, 0}));
    REQUIRE(f.exits.size() == 1);
    CHECK(f.exits[0].kind == ExitKind::Jump);
    CHECK(f.exits[0].offset == 13);
    CHECK(f.exits[0].at_entry_sp);
  }
  SECTION("a conditional tail call keeps its condition") {
    // test %edi,%edi; jne far; ret
    FunctionCode f = analyze(bytes({0x85, 0xff, 0x0f, 0x85, 0, 0x10, 0, 0, 0xc3}));
    REQUIRE(f.exits.size() == 2);
    CHECK(f.exits[0].kind == ExitKind::JumpIf);
    CHECK(f.exits[0].condition == 5);  // ne
    CHECK(f.exits[1].kind == ExitKind::Return);
  }
  SECTION("leave restores the stack pointer from the frame pointer") {
    // push %rbp; mov %rsp,%rbp; sub $0x20,%rsp; leave; jmp far
    FunctionCode f = analyze(bytes({0x55, 0x48, 0x89, 0xe5, 0x48, 0x83, 0xec, 0x20, 0xc9, 0xe9, 0, 0x10, 0, 0}));
    REQUIRE(f.exits.size() == 1);
    CHECK(f.exits[0].at_entry_sp);
  }
}

TEST_CASE("jumps that do not leave: into a .cold part with the frame up, and jump tables", "[probe_plan]") {
  SECTION("a frame is still up: the jump goes to more of the function") {
    // push %rbx; test %edi,%edi; jne far; pop %rbx; ret
    FunctionCode f = analyze(bytes({0x53, 0x85, 0xff, 0x0f, 0x85, 0, 0x10, 0, 0, 0x5b, 0xc3}));
    REQUIRE(f.exits.size() == 1);
    CHECK(f.exits[0].kind == ExitKind::Return);
    CHECK(f.makes_calls);  // what the other part does is not known: an exception may pass
  }
  SECTION("a jump into the function's known .cold part is not an exit") {
    CodeContext ctx;
    ctx.same_function = {{kAt + 0x1000, 0x40}};
    FunctionCode f = analyze(bytes({0x85, 0xff, 0x0f, 0x85, 0, 0x10, 0, 0, 0xc3}), ctx);  // jne kAt+0x1008
    REQUIRE(f.exits.size() == 1);
    CHECK(f.exits[0].kind == ExitKind::Return);
  }
  SECTION("an indirect jump at the entry stack pointer is checked at run time") {
    FunctionCode f = analyze(bytes({0xff, 0xe0}));  // jmp *%rax
    REQUIRE(f.exits.size() == 1);
    CHECK(f.exits[0].kind == ExitKind::IndirectJump);
    CHECK(f.exits[0].target.base == FUNCLAT_REG_RAX);
    CHECK_FALSE(f.exits[0].target.memory);
    CHECK(f.calls_through_pointer);
  }
  SECTION("through memory, rip-relative: a tail call via the GOT") {
    FunctionCode f = analyze(bytes({0xff, 0x25, 0x10, 0, 0, 0}));  // jmp *0x10(%rip)
    REQUIRE(f.exits.size() == 1);
    CHECK(f.exits[0].target.memory);
    CHECK(f.exits[0].target.rip_relative);
    CHECK(f.exits[0].target.disp == 0x10);
    CHECK(f.exits[0].length == 6);
  }
  SECTION("notrack marks a CET jump table; Go has no tail calls through pointers") {
    CHECK(analyze(bytes({0x3e, 0xff, 0xe0, 0xc3})).exits.size() == 1);
    CodeContext go;
    go.go = true;
    CHECK(analyze(bytes({0xff, 0xe0, 0xc3}), go).exits.size() == 1);
  }
}

TEST_CASE("Go: the entry probe goes past the stack-bound check", "[probe_plan]") {
  // cmp 0x10(%r14),%rsp; jbe +9; sub $0x18,%rsp; add $0x18,%rsp; ret; call .+5; jmp start
  std::vector<uint8_t> code = {0x49, 0x3b, 0x66, 0x10, 0x76, 0x09, 0x48, 0x83, 0xec, 0x18, 0x48,
                               0x83, 0xc4, 0x18, 0xc3, 0xe8, 0,    0,    0,    0,    0xeb, 0xea};
  CodeContext go;
  go.go = true;
  FunctionCode f = analyze(code, go);
  CHECK(f.go_entry_offset == 6);
  REQUIRE(f.exits.size() == 1);  // the jump back to the start stays inside
  CHECK(f.exits[0].offset == 14);
  CHECK(f.exits[0].at_entry_sp);
  CHECK(analyze(code).go_entry_offset == 0);  // not Go: no such placement
}

TEST_CASE("a function's size unknown, undecodable bytes: no return sites claimed", "[probe_plan]") {
  FunctionCode none = analyze_function(nullptr, 0, kAt, {});
  CHECK_FALSE(none.decoded);
  CHECK(none.problem.find("size") != std::string::npos);
  FunctionCode bad = analyze(bytes({0x48, 0x89, 0xf8, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06,
                                    0x06, 0x06, 0x06, 0x06, 0x06, 0xc3}));
  CHECK_FALSE(bad.decoded);
  CHECK(bad.problem.find("+0x3") != std::string::npos);
}

TEST_CASE("every function of the build's workloads decodes, and each that returns has an exit", "[probe_plan]") {
  for (const char* name : {"funclat_target", "cpp_target", "funclat_target_cet_nop5"}) {
    INFO(name);
    const std::string path = test::workload(name);
    ElfSymbols symbols = ElfSymbols::load(path);
    size_t analyzed = 0, with_exits = 0;
    for (const auto& fn : symbols.functions()) {
      if (fn.size == 0) continue;
      FunctionCode f = analyze_function_in_file(path, fn.file_offset, fn.size, fn.address, {});
      INFO(fn.name << ": " << f.problem);
      CHECK(f.decoded);
      analyzed++;
      with_exits += f.exits.empty() ? 0 : 1;
      for (const auto& e : f.exits) CHECK(e.offset < fn.size);
    }
    CHECK(analyzed >= 3);
    CHECK(with_exits * 10 >= analyzed * 7);  // most return; _start, exit wrappers and the like do not
  }
}
