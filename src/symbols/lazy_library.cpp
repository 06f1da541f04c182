#include "symbols/lazy_library.h"

#include <dlfcn.h>

#include <atomic>
#include <mutex>
#include <string>

#include "perfbpf/error.h"

namespace perfbpf {
namespace {

// Opens SONAME and fills API's members from LIST; throws (nothing kept) on any failure.
template <typename Api, typename Fill>
void open_library(const char* soname, Api& api, Fill fill) {
  void* lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = dlerror();
    throw Error(std::string("cannot load ") + soname + ": " + (why ? why : "unknown error"),
                "it is a dependency of perfbpf: reinstall its package");
  }
  const char* missing = nullptr;
  fill(lib, missing);
  if (missing) {
    dlclose(lib);
    api = Api{};
    throw Error(std::string(soname) + " has no " + missing, "it is older than the one perfbpf was built with");
  }
}

template <typename F>
void resolve(void* lib, const char* name, F& fn, const char*& missing) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  if (!fn && !missing) missing = name;
}

// API, opened from SONAME and filled by FILL(lib, api, missing) on the first call, and kept.
// Every call of a libdw function asks libdw() first: once loaded, an acquire load and no lock.
template <typename Api, typename Fill>
const Api& loaded_once(const char* soname, Fill fill) {
  static Api api;
  static std::atomic<bool> ready{false};
  if (ready.load(std::memory_order_acquire)) return api;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (!ready.load(std::memory_order_relaxed)) {
    open_library(soname, api, [&fill](void* lib, const char*& missing) { fill(lib, api, missing); });
    ready.store(true, std::memory_order_release);
  }
  return api;
}

}  // namespace

#define PERFBPF_LAZY_RESOLVE(name) resolve(lib, #name, api.name, missing);

const LibdwApi& libdw() {
  return loaded_once<LibdwApi>(PERFBPF_LIBDW_SONAME, [](void* lib, LibdwApi& api, const char*& missing) {
    PERFBPF_LIBDW_FUNCTIONS(PERFBPF_LAZY_RESOLVE)
  });
}

const LzmaApi& liblzma() {
  return loaded_once<LzmaApi>(PERFBPF_LZMA_SONAME, [](void* lib, LzmaApi& api, const char*& missing) {
    PERFBPF_LZMA_FUNCTIONS(PERFBPF_LAZY_RESOLVE)
  });
}

}  // namespace perfbpf
