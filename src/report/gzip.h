// gzip (RFC 1952) through zlib: pprof profiles are gzipped protobuf, and the HTML report
// carries its data gzipped (the browser's DecompressionStream inflates it).
#pragma once

#include <string>
#include <string_view>

namespace perfbpf {

std::string gzip(std::string_view data);  // throws Error if zlib fails
std::string base64(std::string_view data);

}  // namespace perfbpf
