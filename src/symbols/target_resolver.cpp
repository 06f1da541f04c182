#include "symbols/target_resolver.h"

#include <sys/stat.h>

#include <cerrno>
#include <map>
#include <set>

#include <fmt/format.h>

#include "perfbpf/error.h"
#include "symbols/ifunc_resolver.h"
#include "symbols/proc_maps.h"

namespace perfbpf {
namespace {

std::string join(const std::vector<std::string>& items, size_t at_most) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < at_most; i++) out += (i ? ", " : "") + items[i];
  if (items.size() > at_most) out += ", ...";
  return out;
}

std::string basename_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

// The file itself, whichever way its path is spelled (a symlink, "libx" and "/path/libx.so.1",
// /proc/PID/root/...): uprobes are per inode, so one probe per (file, offset).
std::string file_identity(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return path;
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

struct ObjectLocation {
  std::string attach_path;  // opened by perfbpf
  std::string object;       // as the target sees it
};

ObjectLocation locate_object(const std::string& object, const ResolveContext& ctx) {
  if (object.empty()) {
    // The kernel runs a script's interpreter; the script itself has no code to probe.
    if (std::string interpreter = ctx.pid == 0 ? script_interpreter(ctx.executable) : ""; !interpreter.empty())
      throw Error("the main executable " + ctx.executable + " is a script (run by " + interpreter +
                      "), not an ELF file with functions",
                  "name the ELF that holds the function: -f " + interpreter + ":FUNC, or a library: -f libc:FUNC",
                  ENOEXEC);
    return {ctx.executable, ctx.executable};
  }
  const std::string root = ctx.proc_root + "/" + std::to_string(ctx.pid) + "/root";
  if (object.find('/') != std::string::npos) {
    if (exists(object) || ctx.pid == 0) return {object, object};
    if (object[0] == '/' && exists(root + object)) return {root + object, object};
    return {object, object};  // ElfSymbols::load reports it missing
  }
  if (ctx.pid != 0) {
    std::vector<std::string> mapped = mapped_objects(read_proc_maps(ctx.proc_root, ctx.pid));
    for (const auto& path : mapped)
      if (library_name_matches(path, object)) return {root + path, path};
    std::vector<std::string> names;
    for (const auto& path : mapped)
      if (path.find(".so") != std::string::npos) names.push_back(basename_of(path));
    throw Error("pid " + std::to_string(ctx.pid) + " has no library '" + object + "' mapped",
                "mapped: " + join(names, 10) +
                    "; a dlopen'ed library appears once loaded; or give a path, e.g. -f /usr/lib/x86_64-linux-gnu/" +
                    object + ".so:FUNC",
                ENOENT);
  }
  for (const auto& path : ctx.libraries)
    if (library_name_matches(path, object)) return {path, path};
  std::vector<std::string> names;
  for (const auto& path : ctx.libraries) names.push_back(basename_of(path));
  throw Error("'" + object + "' is not a dependency of " + ctx.executable,
              (names.empty() ? std::string("it links no shared library") : "it loads: " + join(names, 10)) +
                  "; for a dlopen'ed library give its path, e.g. -f /usr/lib/x86_64-linux-gnu/" + object + ".so:FUNC",
              ENOENT);
}

[[noreturn]] void throw_no_match(const FunctionSpec& spec, const ElfSymbols& symbols, const std::string& object) {
  if (!symbols.has_symtab() && !symbols.has_dynsym())
    throw Error(object + " has no symbol tables (.symtab and .dynsym both missing)",
                "rebuild it without stripping, or install its debug symbols", ENOENT);
  size_t exported = 0;
  for (const auto& f : symbols.functions()) exported += f.dynamic ? 1 : 0;
  std::vector<std::string> closest = closest_function_names(symbols, spec.pattern);
  if (!symbols.has_symtab())
    throw Error("no function matching '" + spec.pattern + "' in " + object + ": it is stripped (no .symtab; only " +
                    std::to_string(exported) + " exported functions in .dynsym)",
                "install its debug symbols (found by build-id or .gnu_debuglink) or rebuild it with symbols" +
                    (closest.empty() ? std::string() : "; closest exported: " + join(closest, 5)),
                ENOENT);
  throw Error("no function matching '" + spec.pattern + "' in " + object,
              closest.empty() ? "it defines no functions" : "closest: " + join(closest, 5), ENOENT);
}

// An IFUNC's probe goes on the implementation the target runs, named when a symbol says so.
void resolve_implementation(ProbeTarget& t, const ElfSymbols& symbols, const ResolveContext& ctx) {
  IfuncContext ictx;
  ictx.proc_root = ctx.proc_root;
  ictx.pid = ctx.pid;
  IfuncImplementation impl = resolve_ifunc(t.attach_path, t.function, ictx);
  t.implementation = fmt::format("0x{:x}", impl.address);  // a library without symbols for it
  t.function.size = 0;
  for (const ElfFunction& f : symbols.functions())
    if (f.address == impl.address) {
      t.implementation = f.demangled;
      t.function.size = f.size;
    }
  t.implementation_source = impl.source;
  t.function.address = impl.address;
  t.function.file_offset = impl.file_offset;
  t.function.ifunc = false;
}

}  // namespace

FunctionSpec parse_function_spec(const std::string& text) {
  FunctionSpec spec;
  spec.text = text;
  size_t split = std::string::npos;
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] != ':') continue;
    bool double_colon = (i + 1 < text.size() && text[i + 1] == ':');
    if (double_colon) {
      i++;  // skip the C++ scope operator
      continue;
    }
    split = i;
    break;
  }
  if (split == std::string::npos) {
    spec.pattern = text;
  } else {
    spec.object = text.substr(0, split);
    spec.pattern = text.substr(split + 1);
    if (spec.object.empty()) throw Error::usage("'" + text + "': empty object before ':'", "use -f OBJECT:PATTERN or -f PATTERN");
  }
  if (spec.pattern.empty()) throw Error::usage("'" + text + "': empty function pattern", "use -f [OBJECT:]PATTERN");
  return spec;
}

std::vector<ProbeTarget> resolve_targets(const std::vector<FunctionSpec>& specs, const ResolveContext& ctx,
                                         std::vector<std::string>* notes) {
  std::vector<ProbeTarget> targets;
  std::map<std::string, ElfSymbols> loaded;  // by file identity
  std::map<std::pair<std::string, uint64_t>, std::string> seen;  // (file, offset) -> the row's name
  for (const auto& spec : specs) {
    ObjectLocation where = locate_object(spec.object, ctx);
    std::string file = file_identity(where.attach_path);
    auto it = loaded.find(file);
    if (it == loaded.end()) it = loaded.emplace(file, ElfSymbols::load(where.attach_path)).first;
    const ElfSymbols& symbols = it->second;
    std::vector<const ElfFunction*> matched = match_functions(symbols, spec.pattern);
    if (matched.empty()) throw_no_match(spec, symbols, where.object);
    const bool exact = spec.pattern.find_first_of("*?[") == std::string::npos;
    std::vector<Error> left_out;
    for (const ElfFunction* f : matched) {
      ProbeTarget t{where.attach_path, where.object, *f, spec.text, {}, {}};
      if (f->ifunc) {
        try {
          resolve_implementation(t, symbols, ctx);
        } catch (const Error& e) {
          // Named exactly: the user must know. Matched by a glob: the rest still count.
          if (exact) throw;
          left_out.push_back(e);
          continue;
        }
      }
      auto [at, fresh] = seen.emplace(std::make_pair(file, t.function.file_offset), t.function.demangled);
      if (!fresh && !t.implementation.empty() && notes && at->second != t.function.demangled)
        notes->push_back(t.function.demangled + " runs the same code as " + at->second + " (" + t.implementation +
                         "): its calls are counted in that row");
      if (fresh) targets.push_back(std::move(t));
    }
    // A glob whose every match was left out would probe nothing: that is an error.
    if (!left_out.empty() && left_out.size() == matched.size()) throw left_out.front();
    for (const Error& e : left_out)
      if (notes) notes->push_back(std::string(e.what()) + ": left out");
  }
  return targets;
}

}  // namespace perfbpf
