// Energy from Intel RAPL through the powercap sysfs interface (also exposed for AMD Zen by the
// same driver): one cumulative microjoule counter per CPU package.
#include <algorithm>
#include <charconv>
#include <fstream>
#include <string>
#include <system_error>

#include "clinbench/provenance.h"

namespace clinbench {
namespace {

std::optional<uint64_t> read_u64(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string text;
  if (!in || !std::getline(in, text)) return std::nullopt;
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end == text.data()) return std::nullopt;
  return v;
}

// "intel-rapl:N" with N decimal: a top-level domain. "intel-rapl:N:M" are its parts (core,
// uncore, dram) and "intel-rapl-mmio:N" duplicates the package on some client chips.
bool is_top_level_domain(const std::string& name) {
  constexpr std::string_view kPrefix = "intel-rapl:";
  if (name.size() <= kPrefix.size() || name.rfind(kPrefix, 0) != 0) return false;
  return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(kPrefix.size()), name.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::vector<RaplPackage> read_rapl_packages(const std::filesystem::path& powercap_root) {
  std::vector<RaplPackage> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(powercap_root, ec);
  if (ec) return {};
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (!is_top_level_domain(name)) continue;
    // A top-level "psys" domain (client chips) covers the whole platform, packages included:
    // counting it too would count the packages twice.
    std::ifstream name_file(entry.path() / "name");
    std::string domain;
    if (name_file && std::getline(name_file, domain) && domain.rfind("package", 0) != 0) continue;
    const auto energy = read_u64(entry.path() / "energy_uj");
    const auto range = read_u64(entry.path() / "max_energy_range_uj");
    if (!energy || !range) return {};  // one unreadable package would make the sum wrong
    out.push_back({name, *energy, *range});
  }
  std::sort(out.begin(), out.end(),
            [](const RaplPackage& a, const RaplPackage& b) { return a.name < b.name; });
  return out;
}

std::optional<uint64_t> rapl_energy_uj(const std::filesystem::path& powercap_root) {
  const auto packages = read_rapl_packages(powercap_root);
  if (packages.empty()) return std::nullopt;
  uint64_t sum = 0;
  for (const auto& p : packages) sum += p.energy_uj;
  return sum;
}

std::optional<uint64_t> energy_delta_uj(uint64_t start_uj, uint64_t end_uj, uint64_t max_range_uj) {
  if (end_uj >= start_uj) return end_uj - start_uj;
  if (max_range_uj == 0 || start_uj > max_range_uj) return std::nullopt;
  return (max_range_uj - start_uj) + end_uj;
}

EnergyMeter::EnergyMeter(std::filesystem::path powercap_root) : root_(std::move(powercap_root)) {}

void EnergyMeter::start() {
  last_ = read_rapl_packages(root_);
  total_uj_ = 0;
  samples_ = 0;
  available_ = !last_.empty();
  running_ = available_;
}

void EnergyMeter::sample() {
  if (!running_) return;
  auto now = read_rapl_packages(root_);
  bool same = now.size() == last_.size();
  for (size_t i = 0; same && i < now.size(); ++i) same = now[i].name == last_[i].name;
  if (!same) {  // a package vanished or became unreadable: no honest total any more
    available_ = running_ = false;
    return;
  }
  for (size_t i = 0; i < now.size(); ++i) {
    const auto d = energy_delta_uj(last_[i].energy_uj, now[i].energy_uj, now[i].max_range_uj);
    if (!d) {
      available_ = running_ = false;
      return;
    }
    total_uj_ += *d;
  }
  ++samples_;
  last_ = std::move(now);
}

void EnergyMeter::stop() {
  sample();
  running_ = false;
}

std::optional<uint64_t> EnergyMeter::energy_uj() const {
  if (!available_) return std::nullopt;
  return total_uj_;
}

nlohmann::json EnergyMeter::to_json() const {
  if (!available_) return nullptr;
  nlohmann::json packages = nlohmann::json::array();
  for (const auto& p : last_) packages.push_back(p.name);
  return {{"source", "rapl"},
          {"packages", std::move(packages)},
          {"energy_uj", total_uj_},
          {"energy_j", static_cast<double>(total_uj_) / 1e6},
          {"samples", samples_}};
}

}  // namespace clinbench
