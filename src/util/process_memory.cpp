#include "util/process_memory.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>

namespace clinbench {
namespace {

// The sum of the "Key:   N kB" lines of a /proc status or meminfo file named by keys, in bytes.
uint64_t sum_kb_fields(const std::string& path, std::initializer_list<std::string_view> keys) {
  std::ifstream in(path);
  uint64_t kb = 0;
  for (std::string line; std::getline(in, line);) {
    for (std::string_view key : keys) {
      if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == ':') {
        kb += std::strtoull(line.c_str() + key.size() + 1, nullptr, 10);
      }
    }
  }
  return kb * 1024;
}

}  // namespace

bool reset_peak_rss() {
  // "5" resets VmHWM (Documentation/filesystems/proc.rst); other values clear page bits.
  const int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool written = ::write(fd, "5", 1) == 1;
  ::close(fd);
  return written;
}

uint64_t peak_rss_bytes() { return sum_kb_fields("/proc/self/status", {"VmHWM"}); }

uint64_t current_rss_bytes() { return sum_kb_fields("/proc/self/status", {"VmRSS"}); }

uint64_t resident_anon_shmem_bytes(pid_t pid) {
  return sum_kb_fields(fmt::format("/proc/{}/status", pid), {"RssAnon", "RssShmem"});
}

uint64_t available_host_memory_bytes() { return sum_kb_fields("/proc/meminfo", {"MemAvailable"}); }

}  // namespace clinbench
