// RAPL energy counters through the powercap sysfs interface: one meter per package zone and per
// DRAM subzone, each a microjoule counter that wraps after max_energy_range_uj.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <system_error>

#include "clinbench/energy.h"

namespace clinbench::energy {
namespace {

namespace fs = std::filesystem;

// The decimal number in a sysfs file. open()/read() rather than a stream, so that a refusal
// (EACCES: energy_uj is root-only since Linux 5.10) is told apart from a malformed file.
Result<uint64_t> read_counter(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == EACCES || err == EPERM) {
      return make_error(ErrorCode::kIo, file.string() + ": " + kRaplRootOnly);
    }
    return make_error(ErrorCode::kIo, file.string() + ": " + std::strerror(err));
  }
  char buf[64];
  const ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  const int err = errno;
  ::close(fd);
  if (n < 0) {
    if (err == EACCES || err == EPERM) {
      return make_error(ErrorCode::kIo, file.string() + ": " + kRaplRootOnly);
    }
    return make_error(ErrorCode::kIo, file.string() + ": " + std::strerror(err));
  }
  const char* end = buf + n;
  while (end > buf && (end[-1] == '\n' || end[-1] == ' ')) --end;
  uint64_t v = 0;
  const auto [stop, ec] = std::from_chars(buf, end, v);
  if (ec != std::errc() || stop != end || end == buf) {
    return make_error(ErrorCode::kCorrupt, file.string() + ": not a counter: '" +
                                               std::string(static_cast<const char*>(buf), end) +
                                               "'");
  }
  return v;
}

std::string read_name(const fs::path& zone) {
  std::ifstream in(zone / "name");
  std::string name;
  if (!in || !std::getline(in, name)) return {};
  return name;
}

// "intel-rapl:0" -> {"intel-rapl", [0]}; "intel-rapl:0:1" -> {"intel-rapl", [0, 1]}. Empty
// indices for anything else ("intel-rapl-mmio:0" duplicates the package on some client chips and
// is skipped by its prefix).
struct ZoneName {
  std::string control;
  std::vector<int> indices;
};

ZoneName parse_zone(const std::string& dir) {
  ZoneName z;
  const auto colon = dir.find(':');
  if (colon == std::string::npos) return z;
  z.control = dir.substr(0, colon);
  if (z.control != "intel-rapl" && z.control != "amd-energy") return {};
  size_t pos = colon + 1;
  while (pos <= dir.size()) {
    const auto next = std::min(dir.find(':', pos), dir.size());
    int v = 0;
    const auto [end, ec] = std::from_chars(dir.data() + pos, dir.data() + next, v);
    if (ec != std::errc() || end != dir.data() + next || next == pos) return {};
    z.indices.push_back(v);
    pos = next + 1;
  }
  return z;
}

class RaplMeter final : public Meter {
 public:
  RaplMeter(MeterInfo info, fs::path counter, uint64_t first, uint64_t max_range)
      : info_(std::move(info)), counter_(std::move(counter)), last_(first), range_(max_range) {}

  const MeterInfo& info() const override { return info_; }

  Result<double> read(Clock::time_point /*now*/) override {
    auto now = read_counter(counter_);
    if (!now) return std::unexpected(now.error());
    const auto d = counter_delta(last_, *now, range_);
    if (!d) {
      return make_error(ErrorCode::kCorrupt, counter_.string() + ": went from " +
                                                 std::to_string(last_) + " to " +
                                                 std::to_string(*now) + ", which no wrap at " +
                                                 std::to_string(range_) + " explains");
    }
    total_uj_ += *d;
    last_ = *now;
    return static_cast<double>(total_uj_) / 1e6;
  }

 private:
  MeterInfo info_;
  fs::path counter_;
  uint64_t last_;
  uint64_t range_;
  uint64_t total_uj_ = 0;
};

struct Zone {
  fs::path path;
  std::string dir;   // "intel-rapl:0:1"
  std::string name;  // the meter's name: "package-0", "package-0/dram"
  std::string domain;
};

}  // namespace

fs::path powercap_root() {
  const char* env = std::getenv(kPowercapRootEnv);  // NOLINT(concurrency-mt-unsafe): read-only
  if (env != nullptr && *env != '\0') return env;
  return kDefaultPowercapRoot;
}

std::optional<uint64_t> counter_delta(uint64_t start, uint64_t end, uint64_t max_range) {
  if (end >= start) return end - start;
  if (max_range == 0 || start > max_range) return std::nullopt;
  return (max_range - start) + end;
}

Detection detect_rapl(const fs::path& root) {
  Detection out;
  std::error_code ec;
  fs::directory_iterator it(root, ec);
  if (ec) {
    out.unavailable.push_back({"rapl", root.string() + ": " + ec.message()});
    return out;
  }
  // Packages first, by their zone, then the DRAM subzones of the packages found.
  std::vector<Zone> packages;
  std::vector<std::pair<ZoneName, fs::path>> subzones;
  for (const auto& entry : it) {
    const std::string dir = entry.path().filename().string();
    const ZoneName z = parse_zone(dir);
    if (z.indices.size() == 1) {
      const std::string name = read_name(entry.path());
      // psys (client chips) covers the whole platform, packages included.
      if (name.rfind("package", 0) != 0) continue;
      packages.push_back({entry.path(), dir, name, "package"});
    } else if (z.indices.size() == 2) {
      subzones.emplace_back(z, entry.path());
    }
  }
  std::sort(packages.begin(), packages.end(),
            [](const Zone& a, const Zone& b) { return a.dir < b.dir; });
  std::sort(subzones.begin(), subzones.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  std::vector<Zone> zones;
  for (const auto& p : packages) {
    zones.push_back(p);
    for (const auto& [z, path] : subzones) {
      // A subzone of this package: "intel-rapl:0:1" under "intel-rapl:0". sysfs also lists it
      // inside the package directory; the top-level link is the one read here.
      if (path.filename().string().rfind(p.dir + ":", 0) != 0) continue;
      if (read_name(path) != "dram") continue;  // core and uncore are inside the package
      zones.push_back({path, path.filename().string(), p.name + "/dram", "dram"});
    }
  }
  if (zones.empty()) {
    out.unavailable.push_back({"rapl", root.string() + ": no RAPL package zone"});
    return out;
  }
  std::vector<std::unique_ptr<Meter>> meters;
  for (const auto& z : zones) {
    const auto energy = read_counter(z.path / "energy_uj");
    const auto range = read_counter(z.path / "max_energy_range_uj");
    if (!energy || !range) {
      out.unavailable.push_back({"rapl", (!energy ? energy.error() : range.error()).message});
      return out;  // no meters: a sum missing one zone would be wrong
    }
    meters.push_back(
        std::make_unique<RaplMeter>(MeterInfo{z.name, "rapl", z.domain, z.dir, Mode::kCounter},
                                    z.path / "energy_uj", *energy, *range));
  }
  out.meters = std::move(meters);
  return out;
}

}  // namespace clinbench::energy
