#include "bpf_load/core_btf.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "bpf_load/kernel_ids.h"
#include "perfbpf/error.h"
#include "report/output_file.h"
#include "util/cache_dir.h"
#include "util/safe_path.h"

namespace perfbpf {
namespace {

constexpr const char* kKernelBtf = "/sys/kernel/btf/vmlinux";
constexpr char kMagic[8] = {'P', 'B', 'F', 'B', 'T', 'F', '2', '\0'};
constexpr size_t kMaxCacheBytes = 16u << 20;  // a projection is tens of KiB; refuse anything near this
constexpr size_t kMaxEntries = 16;            // per cache directory: kernels x perfbpf builds

// The cache file: this header, SIZE bytes of raw BTF, then IDS_SIZE bytes of the object's kernel
// ids (serialize_kernel_ids).
struct Header {
  char magic[8];
  uint64_t kernel_key;  // fnv1a(kernel_btf_identity())
  uint64_t object_key;  // fnv1a(the object's ELF bytes)
  uint64_t size;
  uint64_t ids_size;
  uint64_t checksum;  // fnv1a of all that follows the header
};
static_assert(sizeof(Header) == 48);

uint64_t fnv1a(std::string_view bytes, uint64_t h = 0xcbf29ce484222325ull) {
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

struct BtfFree {
  void operator()(struct btf* b) const { btf__free(b); }
};
using BtfPtr = std::unique_ptr<struct btf, BtfFree>;

[[noreturn]] void fail(const char* what, long err) {
  throw Error(std::string("cannot project the kernel's BTF: ") + what, {}, static_cast<int>(err < 0 ? -err : err));
}

long check(long id, const char* what) {
  if (id < 0) fail(what, id);
  return id;
}

// The name a CO-RE relocation matches by: "task_struct___pre514" is "task_struct".
std::string essential_name(const char* name) {
  std::string_view n(name ? name : "");
  if (size_t at = n.find("___"); at != std::string_view::npos) n = n.substr(0, at);
  return std::string(n);
}

// Copies kernel types into OUT: structs and unions with every member, embedded ones likewise,
// pointers as void *, typedefs and qualifiers resolved (CO-RE skips them on both sides).
class Projector {
 public:
  Projector(const struct btf* kernel, struct btf* out) : k_(kernel), out_(out) {}

  uint32_t map(uint32_t id) {
    const btf_type* t = btf__type_by_id(k_, id);
    while (id && t && (btf_is_typedef(t) || btf_is_mod(t))) {
      id = t->type;
      t = btf__type_by_id(k_, id);
    }
    if (!id) return 0;
    if (!t) fail("a type id out of range", EINVAL);
    if (auto it = memo_.find(id); it != memo_.end()) return it->second;
    const uint32_t made = make(t);
    memo_[id] = made;
    return made;
  }

 private:
  const char* name(const btf_type* t) const { return btf__name_by_offset(k_, t->name_off); }

  uint32_t void_pointer() {
    if (!void_ptr_) void_ptr_ = static_cast<uint32_t>(check(btf__add_ptr(out_, 0), "pointer"));
    return void_ptr_;
  }

  uint32_t index_type() {
    if (!index_) index_ = static_cast<uint32_t>(check(btf__add_int(out_, "unsigned int", 4, 0), "int"));
    return index_;
  }

  uint32_t make(const btf_type* t) {
    switch (btf_kind(t)) {
      case BTF_KIND_PTR:
      case BTF_KIND_FUNC_PROTO:  // only ever behind a pointer
        return void_pointer();
      case BTF_KIND_INT:
        return static_cast<uint32_t>(check(btf__add_int(out_, name(t), static_cast<size_t>(t->size), btf_int_encoding(t)), "int"));
      case BTF_KIND_FLOAT:
        return static_cast<uint32_t>(check(btf__add_float(out_, name(t), t->size), "float"));
      case BTF_KIND_FWD:
        return static_cast<uint32_t>(check(btf__add_fwd(out_, name(t), btf_kflag(t) ? BTF_FWD_UNION : BTF_FWD_STRUCT), "fwd"));
      case BTF_KIND_ENUM: {
        const uint32_t id = static_cast<uint32_t>(check(btf__add_enum(out_, name(t), t->size), "enum"));
        const struct btf_enum* e = btf_enum(t);
        for (uint16_t i = 0; i < btf_vlen(t); i++, e++) {
          const int64_t v = btf_kflag(t) ? static_cast<int64_t>(static_cast<int32_t>(e->val)) : static_cast<int64_t>(static_cast<uint32_t>(e->val));
          check(btf__add_enum_value(out_, btf__name_by_offset(k_, e->name_off), v), "enum value");
        }
        return id;
      }
      case BTF_KIND_ENUM64: {
        const uint32_t id = static_cast<uint32_t>(check(btf__add_enum64(out_, name(t), t->size, btf_kflag(t)), "enum64"));
        const struct btf_enum64* e = btf_enum64(t);
        for (uint16_t i = 0; i < btf_vlen(t); i++, e++)
          check(btf__add_enum64_value(out_, btf__name_by_offset(k_, e->name_off), btf_enum64_value(e)), "enum64 value");
        return id;
      }
      case BTF_KIND_ARRAY: {
        const struct btf_array* a = btf_array(t);
        const uint32_t nelems = a->nelems, elem = map(a->type);
        return static_cast<uint32_t>(check(btf__add_array(out_, index_type(), elem, nelems), "array"));
      }
      case BTF_KIND_STRUCT:
      case BTF_KIND_UNION: {
        // Member types first: btf__add_field appends to the type added last.
        const uint16_t n = btf_vlen(t);
        std::vector<uint32_t> types(n);
        for (uint16_t i = 0; i < n; i++) types[i] = map(btf_members(t)[i].type);
        const uint32_t id = static_cast<uint32_t>(check(btf_is_struct(t) ? btf__add_struct(out_, name(t), t->size)
                                                                          : btf__add_union(out_, name(t), t->size),
                                                        "struct"));
        const btf_member* m = btf_members(t);
        for (uint16_t i = 0; i < n; i++)
          check(btf__add_field(out_, btf__name_by_offset(k_, m[i].name_off), static_cast<int>(types[i]),
                               btf_member_bit_offset(t, i), btf_member_bitfield_size(t, i)),
                "member");
        return id;
      }
      default:
        fail("an unexpected kind of type", EINVAL);
    }
  }

  const struct btf* k_;
  struct btf* out_;
  std::unordered_map<uint32_t, uint32_t> memo_;
  uint32_t void_ptr_ = 0, index_ = 0;
};

std::string read_small_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A sealed memory file holding BTF, and its path for libbpf.
bool to_memory_file(std::string_view btf, UniqueFd& fd, std::string& path) {
  UniqueFd m(memfd_create("perfbpf-core-btf", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!m) return false;
  for (size_t done = 0; done < btf.size();) {
    const ssize_t n = write(m.get(), btf.data() + done, btf.size() - done);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  fcntl(m.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
  path = "/proc/self/fd/" + std::to_string(m.get());
  fd = std::move(m);
  return true;
}

// The cached BTF for KEYS (and in IDS the kernel ids), or empty when there is none this process
// may trust.
std::string read_cached(int dir, const std::string& name, const Header& want, KernelIds& ids) {
  try {
    RegularFile f = read_regular_file(dir, name, kMaxCacheBytes);
    if (!owned_privately(f.st) || f.text.size() < sizeof(Header)) return {};
    Header h;
    std::memcpy(&h, f.text.data(), sizeof(h));
    const std::string_view body(f.text.data() + sizeof(h), f.text.size() - sizeof(h));
    if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0 || h.kernel_key != want.kernel_key ||
        h.object_key != want.object_key || h.size > body.size() || h.ids_size != body.size() - h.size ||
        h.checksum != fnv1a(body))
      return {};
    KernelIds cached_ids;
    BtfPtr parsed(btf__new(body.data(), static_cast<uint32_t>(h.size)));
    if (!parsed || !parse_kernel_ids(body.substr(h.size), cached_ids)) return {};
    ids = std::move(cached_ids);
    UniqueFd used(openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (used) futimens(used.get(), nullptr);  // used now: eviction keeps the most recent
    return std::string(body.substr(0, h.size));
  } catch (const PathRefused&) {
    return {};
  }
}

// Keeps the kMaxEntries most recently used entries (KEEP always).
void evict(int dir, const std::string& keep) {
  DIR* d = fdopendir(openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d) return;
  std::vector<std::pair<timespec, std::string>> entries;
  while (dirent* e = readdir(d)) {
    struct stat st {};
    const std::string n = e->d_name;
    if (n.size() < 5 || n.compare(n.size() - 4, 4, ".btf") != 0 || n == keep || n[0] == '.') continue;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) entries.push_back({st.st_mtim, n});
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.first.tv_sec != b.first.tv_sec ? a.first.tv_sec > b.first.tv_sec : a.first.tv_nsec > b.first.tv_nsec;
  });
  for (size_t i = kMaxEntries - 1; i < entries.size(); i++) unlinkat(dirfd(d), entries[i].second.c_str(), 0);
  closedir(d);
}

void write_cached(int dir, const std::string& shown_dir, const std::string& name, Header h, std::string_view body) {
  ResolvedPath target;
  target.dir.reset(openat(dir, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  target.dir_shown = shown_dir;
  target.name = name;
  if (!target.dir) return;
  OutputFile out(std::move(target), shown_dir + "/" + name, "BTF cache");
  out.write(std::string_view(reinterpret_cast<const char*>(&h), sizeof(h)));
  out.write(body);
  out.commit();
  evict(dir, name);
}

}  // namespace

std::string kernel_btf_identity() {
  struct stat st {};
  if (stat(kKernelBtf, &st) != 0) return {};
  std::string notes = read_small_file("/sys/kernel/notes");  // the kernel's build id is a note
  if (notes.empty()) notes = read_small_file("/proc/version");
  return fmt::format("{:016x}-{}", fnv1a(notes), static_cast<uint64_t>(st.st_size));
}

std::string project_kernel_btf(const struct btf* kernel, const struct btf* local) {
  std::set<std::string> names;
  for (uint32_t id = 1; id < btf__type_cnt(local); id++) {
    const btf_type* t = btf__type_by_id(local, id);
    if ((btf_is_composite(t) || btf_is_any_enum(t)) && t->name_off)
      names.insert(essential_name(btf__name_by_offset(local, t->name_off)));
  }
  BtfPtr out(btf__new_empty());
  if (!out) fail("no memory", ENOMEM);
  Projector p(kernel, out.get());
  bool any = false;
  for (uint32_t id = 1; id < btf__type_cnt(kernel); id++) {
    const btf_type* t = btf__type_by_id(kernel, id);
    if ((btf_is_composite(t) || btf_is_any_enum(t)) && t->name_off && names.count(btf__name_by_offset(kernel, t->name_off))) {
      p.map(id);
      any = true;
    }
  }
  if (!any) return {};
  uint32_t size = 0;
  const void* raw = btf__raw_data(out.get(), &size);
  if (!raw) fail("no memory", ENOMEM);
  return std::string(static_cast<const char*>(raw), size);
}

CoreBtf CoreBtf::for_object(const void* elf, size_t size, const std::string& cache_dir) {
  register_kernel_sections();  // before anyone opens an object with perfbpf's sections
  CoreBtf result;
  const std::string identity = kernel_btf_identity();
  if (identity.empty()) return result;  // no kernel BTF: CO-RE cannot work anyway, libbpf says so
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.kernel_key = fnv1a(identity);
  h.object_key = fnv1a(std::string_view(static_cast<const char*>(elf), size));
  const std::string name = fmt::format("{:016x}-{:016x}.btf", h.kernel_key, h.object_key);
  UniqueFd dir;
  try {
    if (!cache_dir.empty()) dir = open_private_directory(cache_dir);
  } catch (const PathRefused&) {  // not ours to trust: built every time, never cached
  }
  std::string btf = dir ? read_cached(dir.get(), name, h, result.ids_) : std::string();
  result.source_ = CoreBtfSource::Cache;
  if (btf.empty()) {
    try {
      BtfPtr kernel(btf__load_vmlinux_btf());
      const std::unique_ptr<bpf_object, void (*)(bpf_object*)> obj(bpf_object__open_mem(elf, size, nullptr),
                                                                   bpf_object__close);
      if (!kernel || !obj) return CoreBtf();
      btf = project_kernel_btf(kernel.get(), bpf_object__btf(obj.get()));
      result.ids_ = wanted_kernel_ids(obj.get());
      resolve_kernel_ids(kernel.get(), result.ids_);
    } catch (const Error&) {
      return CoreBtf();
    }
    if (btf.empty()) return CoreBtf();  // nothing to project: libbpf's own way
    result.source_ = CoreBtfSource::Built;
    const std::string ids = serialize_kernel_ids(result.ids_);
    h.size = btf.size();
    h.ids_size = ids.size();
    h.checksum = fnv1a(btf + ids);
    if (dir) {
      try {
        write_cached(dir.get(), cache_dir, name, h, btf + ids);
      } catch (const Error&) {  // a full or read-only disk: used from memory this time
      } catch (const PathRefused&) {
      }
    }
  }
  if (!to_memory_file(btf, result.fd_, result.path_)) {
    result.source_ = CoreBtfSource::None;
    result.ids_.clear();
  }
  return result;
}

CoreBtf CoreBtf::for_skeleton(const void* (*elf_bytes)(size_t*)) {
  size_t size = 0;
  const void* elf = elf_bytes(&size);
  return for_object(elf, size, perfbpf_cache_directory() + "/btf");
}

}  // namespace perfbpf
