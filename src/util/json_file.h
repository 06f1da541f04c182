// Reading a JSON file a user named (a report, a thresholds config): every failure is one line
// naming the file — never a library's text ("basic_filebuf::underflow", "[json.exception...]").
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace perfbpf {

// Reads PATH whole and parses it. WHAT names the file's kind in errors ("report", "config");
// HINT goes with a file that is not JSON. Pipes and devices are read as files are
// (perfbpf report <(...)); a directory is refused. Throws Error.
nlohmann::json read_json_file(const std::string& path, const std::string& what, const std::string& hint);

// A nlohmann exception's message without its "[json.exception.type_error.302] " prefix.
std::string json_error_text(const nlohmann::json::exception& e);

}  // namespace perfbpf
