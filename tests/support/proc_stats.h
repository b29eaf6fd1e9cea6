#pragma once
// What /proc says about a process (Linux), for memory bounds in tests and bench/soak.
// No doctest here.
#include <sys/types.h>

#include <cstdint>
#include <fstream>
#include <string>

namespace tandem::test {

// The resident set size of `pid` in KiB (VmRSS in /proc/PID/status); -1 when unreadable.
inline int64_t rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  return -1;
}

}  // namespace tandem::test
