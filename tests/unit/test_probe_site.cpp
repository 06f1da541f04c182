// Which instruction an entry probe lands on decides its cost; the classification follows
// what arch/x86/kernel/uprobes.c optimizes, emulates or single-steps.
#include <catch2/catch.hpp>

#include <vector>

#include "symbols/probe_site.h"

using namespace perfbpf;

namespace {

ProbeSite classify(std::vector<uint8_t> code) { return classify_probe_site(code.data(), code.size()); }

}  // namespace

TEST_CASE("5-byte NOPs are optimized sites, also behind endbr64", "[probe_site]") {
  auto kernel_nop5 = classify({0x0f, 0x1f, 0x44, 0x00, 0x00, 0xc3});
  CHECK(kernel_nop5.kind == ProbeSiteKind::Optimized);
  CHECK(kernel_nop5.offset_in_function == 0);
  CHECK(classify({0x0f, 0x1f, 0x44, 0x00, 0x08, 0xc3}).kind == ProbeSiteKind::Optimized);  // clang's
  auto cet = classify({0xf3, 0x0f, 0x1e, 0xfa, 0x0f, 0x1f, 0x44, 0x00, 0x08});
  CHECK(cet.kind == ProbeSiteKind::Optimized);
  CHECK(cet.offset_in_function == 4);
}

TEST_CASE("emulated first instructions", "[probe_site]") {
  CHECK(classify({0x55, 0x48, 0x89, 0xe5}).kind == ProbeSiteKind::Emulated);  // push %rbp
  CHECK(classify({0x41, 0x57}).kind == ProbeSiteKind::Emulated);              // push %r15
  CHECK(classify({0x90, 0x90}).kind == ProbeSiteKind::Emulated);              // gcc's patchable entry
  CHECK(classify({0xe9, 0, 0, 0, 0}).kind == ProbeSiteKind::Emulated);        // jmp rel32
  CHECK(classify({0x74, 0x05}).kind == ProbeSiteKind::Emulated);              // je rel8
  // A CET build's push %rbp is probed past the endbr64.
  auto cet_push = classify({0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5});
  CHECK(cet_push.kind == ProbeSiteKind::Emulated);
  CHECK(cet_push.offset_in_function == 4);
}

TEST_CASE("everything else is single-stepped at the symbol", "[probe_site]") {
  auto mov = classify({0x48, 0x89, 0xf8, 0xc3});  // mov %rdi,%rax
  CHECK(mov.kind == ProbeSiteKind::SingleStepped);
  CHECK(mov.offset_in_function == 0);
  auto cet_sub = classify({0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x83, 0xec, 0x08});  // endbr64; sub $8,%rsp
  CHECK(cet_sub.kind == ProbeSiteKind::SingleStepped);
  CHECK(cet_sub.offset_in_function == 0);
  CHECK(classify({0x0f, 0x1f}).kind == ProbeSiteKind::SingleStepped);  // truncated: not a NOP5
  CHECK(classify({}).kind == ProbeSiteKind::SingleStepped);
  CHECK(probe_site_in_file("/nonexistent", 0).kind == ProbeSiteKind::SingleStepped);
}

TEST_CASE("site names as the report writes them", "[probe_site]") {
  CHECK(std::string(probe_site_name(ProbeSiteKind::Optimized)) == "optimized");
  CHECK(std::string(probe_site_name(ProbeSiteKind::Emulated)) == "emulated");
  CHECK(std::string(probe_site_name(ProbeSiteKind::SingleStepped)) == "single-stepped");
}
