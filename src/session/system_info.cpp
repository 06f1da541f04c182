#include "session/system_info.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>

#include <fmt/format.h>

namespace perfbpf {

std::string kernel_release() {
  utsname u{};
  return uname(&u) == 0 ? u.release : "unknown";
}

std::string host_name() {
  char name[256] = {};
  return gethostname(name, sizeof(name) - 1) == 0 ? name : "unknown";
}

std::string rfc3339_now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm local{};
  localtime_r(&ts.tv_sec, &local);
  char date[32];
  strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &local);
  long offset_min = local.tm_gmtoff / 60;
  char sign = offset_min < 0 ? '-' : '+';
  if (offset_min < 0) offset_min = -offset_min;
  return fmt::format("{}.{:03d}{}{:02d}:{:02d}", date, ts.tv_nsec / 1000000, sign, offset_min / 60,
                     offset_min % 60);
}

bool rfc3339_to_unix_ns(const std::string& text, int64_t& unix_ns) {
  tm t{};
  int consumed = 0;
  if (sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &t.tm_year, &t.tm_mon, &t.tm_mday, &t.tm_hour, &t.tm_min,
             &t.tm_sec, &consumed) != 6)
    return false;
  t.tm_year -= 1900;
  t.tm_mon -= 1;
  size_t at = static_cast<size_t>(consumed);
  int64_t fraction_ns = 0;
  if (at < text.size() && text[at] == '.') {
    int64_t scale = 100'000'000;
    for (at++; at < text.size() && isdigit(static_cast<unsigned char>(text[at])); at++, scale /= 10)
      fraction_ns += (text[at] - '0') * scale;
  }
  int64_t offset_s = 0;
  if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    int hours = 0, minutes = 0;
    if (sscanf(text.c_str() + at + 1, "%2d:%2d", &hours, &minutes) != 2) return false;
    offset_s = (text[at] == '-' ? -1 : 1) * (hours * 3600 + minutes * 60);
  } else if (at >= text.size() || (text[at] != 'Z' && text[at] != 'z')) {
    return false;
  }
  unix_ns = (static_cast<int64_t>(timegm(&t)) - offset_s) * 1'000'000'000 + fraction_ns;
  return true;
}

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace perfbpf
