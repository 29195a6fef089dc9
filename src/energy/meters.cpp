// The meter set: what is present, read together, described for the run metadata.
#include <cmath>
#include <limits>

#include "clinbench/energy.h"

namespace clinbench::energy {

const char* to_string(Mode mode) {
  switch (mode) {
    case Mode::kCounter:
      return "counter";
    case Mode::kPowerSampling:
      return "power_sampling";
  }
  return "?";
}

Meters::Meters(std::vector<std::unique_ptr<Meter>> meters, std::vector<Unavailable> unavailable)
    : meters_(std::move(meters)),
      failed_(meters_.size(), false),
      unavailable_(std::move(unavailable)) {
  infos_.reserve(meters_.size());
  for (const auto& m : meters_) infos_.push_back(m->info());
}

Meters Meters::detect(const MetersOptions& options) {
  std::vector<std::unique_ptr<Meter>> meters;
  std::vector<Unavailable> unavailable;
  auto take = [&](Detection d) {
    for (auto& m : d.meters) meters.push_back(std::move(m));
    for (auto& u : d.unavailable) unavailable.push_back(std::move(u));
  };
  if (options.rapl) take(detect_rapl(options.rapl_root));
  if (options.nvml) {
    if (auto nvml = load_nvml(options.nvml_library)) {
      take(detect_nvml(*nvml));
    } else {
      unavailable.push_back({"nvml", nvml.error().message});
    }
  }
  return Meters(std::move(meters), std::move(unavailable));
}

EnergyReading Meters::read(Clock::time_point now) {
  EnergyReading r{now, std::vector<double>(meters_.size())};
  for (size_t i = 0; i < meters_.size(); ++i) {
    if (failed_[i]) {
      r.joules[i] = std::numeric_limits<double>::quiet_NaN();
      continue;
    }
    auto j = meters_[i]->read(now);
    if (j) {
      r.joules[i] = *j;
    } else {
      failed_[i] = true;
      r.joules[i] = std::numeric_limits<double>::quiet_NaN();
      unavailable_.push_back({infos_[i].name, j.error().message});
    }
  }
  return r;
}

nlohmann::json Meters::to_json() const {
  nlohmann::json meters = nlohmann::json::array();
  for (const auto& m : infos_) {
    meters.push_back({{"name", m.name},
                      {"source", m.source},
                      {"domain", m.domain},
                      {"device", m.device},
                      {"mode", to_string(m.mode)}});
  }
  nlohmann::json unavailable = nlohmann::json::array();
  for (const auto& u : unavailable_) {
    unavailable.push_back({{"source", u.source}, {"reason", u.reason}});
  }
  return {{"meters", std::move(meters)}, {"unavailable", std::move(unavailable)}};
}

}  // namespace clinbench::energy
