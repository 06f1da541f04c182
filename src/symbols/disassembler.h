// libcapstone, loaded only while something disassembles: a session that samples stacks or
// reads counters never maps it, and function timing unmaps it once its probes are planned.
// Mapped, Debian's libcapstone.so.4 is ~4.7 MiB of resident memory (its relocated tables for
// every architecture), more than perfbpf's own code.
#pragma once

#include <capstone/capstone.h>

namespace perfbpf {

// The capstone functions perfbpf calls, resolved with dlsym.
struct CapstoneApi {
  decltype(&::cs_open) open = nullptr;
  decltype(&::cs_option) option = nullptr;
  decltype(&::cs_close) close = nullptr;
  decltype(&::cs_malloc) malloc = nullptr;
  decltype(&::cs_free) free = nullptr;
  decltype(&::cs_disasm_iter) disasm_iter = nullptr;
};

// Keeps libcapstone loaded, with an x86-64 handle that fills instruction details, while alive.
// Scopes nest and share one load (thread-safe); the last one to go unloads it. Hold one over a
// batch of work (a whole probe plan): a scope of its own per function would load the library
// once per function.
class Disassembler {
 public:
  Disassembler();
  ~Disassembler();
  Disassembler(const Disassembler&) = delete;
  Disassembler& operator=(const Disassembler&) = delete;

  explicit operator bool() const { return api_ != nullptr; }  // false: the library could not be loaded
  const CapstoneApi& api() const { return *api_; }
  csh handle() const { return handle_; }

 private:
  const CapstoneApi* api_ = nullptr;
  csh handle_ = 0;
};

}  // namespace perfbpf
