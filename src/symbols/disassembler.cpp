#include "symbols/disassembler.h"

#include <dlfcn.h>

#include <mutex>

namespace perfbpf {
namespace {

struct Loaded {
  std::mutex mu;
  unsigned users = 0;
  void* lib = nullptr;
  CapstoneApi api;
  csh handle = 0;
};

Loaded& loaded() {
  static Loaded l;
  return l;
}

template <typename F>
bool resolve(void* lib, const char* name, F& fn) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  return fn != nullptr;
}

// Loads the library and opens the handle; false (nothing kept) on any failure.
bool load(Loaded& l) {
  l.lib = dlopen(PERFBPF_CAPSTONE_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (!l.lib) return false;
  CapstoneApi& a = l.api;
  if (resolve(l.lib, "cs_open", a.open) && resolve(l.lib, "cs_option", a.option) &&
      resolve(l.lib, "cs_close", a.close) && resolve(l.lib, "cs_malloc", a.malloc) &&
      resolve(l.lib, "cs_free", a.free) && resolve(l.lib, "cs_disasm_iter", a.disasm_iter) &&
      a.open(CS_ARCH_X86, CS_MODE_64, &l.handle) == CS_ERR_OK) {
    a.option(l.handle, CS_OPT_DETAIL, CS_OPT_ON);
    return true;
  }
  dlclose(l.lib);
  l.lib = nullptr;
  l.handle = 0;
  return false;
}

}  // namespace

Disassembler::Disassembler() {
  Loaded& l = loaded();
  std::lock_guard<std::mutex> lock(l.mu);
  if (l.users == 0 && !load(l)) return;  // api_ stays null: this scope has no disassembler
  l.users++;
  api_ = &l.api;
  handle_ = l.handle;
}

Disassembler::~Disassembler() {
  if (!api_) return;
  Loaded& l = loaded();
  std::lock_guard<std::mutex> lock(l.mu);
  if (--l.users > 0) return;
  l.api.close(&l.handle);
  dlclose(l.lib);
  l.lib = nullptr;
}

}  // namespace perfbpf
