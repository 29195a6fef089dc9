// host_info(): the machine a run ran on, from uname(2), /proc and /etc/os-release.
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <fstream>
#include <set>
#include <string>

#include "clinbench/provenance.h"

namespace clinbench {
namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// The value after "key" and ':' on the first line of a "key : value" file that has it.
std::optional<std::string> proc_field(const char* file, std::string_view key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (trim(line.substr(0, colon)) == key) return trim(line.substr(colon + 1));
  }
  return std::nullopt;
}

nlohmann::json os_pretty_name() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("PRETTY_NAME=", 0) != 0) continue;
    std::string v = line.substr(12);
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
      v = v.substr(1, v.size() - 2);
    }
    return v;
  }
  return nullptr;
}

// The CPU features that decide which ggml kernels run (and the AMX trap in DESIGN.md).
nlohmann::json cpu_flags() {
  auto flags = proc_field("/proc/cpuinfo", "flags");
  if (!flags) flags = proc_field("/proc/cpuinfo", "Features");  // arm64
  if (!flags) return nullptr;
  static const std::set<std::string> kWanted = {
      "sse4_2",   "avx",         "avx2",        "fma",      "f16c",     "avx512f",  "avx512bw",
      "avx512vl", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16",
      "asimd",    "asimddp",     "sve",         "sve2",     "i8mm",     "bf16"};
  nlohmann::json out = nlohmann::json::array();
  size_t pos = 0;
  while (pos < flags->size()) {
    const size_t end = std::min(flags->find(' ', pos), flags->size());
    const std::string flag = flags->substr(pos, end - pos);
    if (kWanted.count(flag)) out.push_back(flag);
    pos = end + 1;
  }
  return out;
}

nlohmann::json memory_bytes() {
  if (auto kb = proc_field("/proc/meminfo", "MemTotal")) {
    uint64_t v = 0;  // "16384 kB"
    if (std::from_chars(kb->data(), kb->data() + kb->size(), v).ec == std::errc()) return v * 1024;
  }
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
  return nullptr;
}

}  // namespace

nlohmann::json host_info() {
  nlohmann::json j;
  char host[HOST_NAME_MAX + 1] = {};
  j["hostname"] = gethostname(host, sizeof(host) - 1) == 0 ? nlohmann::json(host) : nullptr;

  nlohmann::json os;
  struct utsname u {};
  if (uname(&u) == 0) {
    os["name"] = u.sysname;
    os["kernel"] = u.release;
    os["version"] = u.version;
    os["machine"] = u.machine;
  } else {
    os["name"] = os["kernel"] = os["version"] = os["machine"] = nullptr;
  }
  os["pretty_name"] = os_pretty_name();
  j["os"] = std::move(os);

  nlohmann::json cpu;
  auto model = proc_field("/proc/cpuinfo", "model name");
  if (!model) model = proc_field("/proc/cpuinfo", "Model");  // some arm64 kernels
  cpu["model"] = model ? nlohmann::json(*model) : nullptr;
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  cpu["logical_cores"] = cores > 0 ? nlohmann::json(cores) : nullptr;
  cpu["flags"] = cpu_flags();
  j["cpu"] = std::move(cpu);

  j["memory_bytes"] = memory_bytes();
  j["accelerator"] = nullptr;
  return j;
}

}  // namespace clinbench
