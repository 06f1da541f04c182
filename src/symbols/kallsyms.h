// Kernel text symbols from /proc/kallsyms, read a chunk at a time. The file has some 200 000
// lines (about 10 MB) that the kernel formats anew on every read; a session needs the names of
// a few hundred addresses, so it streams the file once instead of keeping a copy of it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace perfbpf {

// Calls FN(address, name) for each text symbol (types t, T, w, W; a module's name after its
// tab is left out) of the kallsyms file at PATH, in file order. False when it cannot be opened.
bool for_each_kernel_text_symbol(const std::string& path, const std::function<void(uint64_t, std::string_view)>& fn);

// For each of ADDRESSES, the name of the text symbol at the highest address at or below it, in
// one pass over PATH whatever its order (modules' symbols are not sorted); an address below
// every symbol gets none. Memory is in the addresses asked for, not in the file's size.
std::unordered_map<uint64_t, std::string> name_kernel_addresses(const std::string& path, std::vector<uint64_t> addresses);

}  // namespace perfbpf
