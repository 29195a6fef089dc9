// What a run or an evaluation measured, as the run metadata and the attempt log record it.
#include <chrono>

#include "clinbench/energy.h"

namespace clinbench::energy {

nlohmann::json measured_json(const Meters& meters, const Sampler* sampler) {
  nlohmann::json j = meters.to_json();
  j["energy_j"] = nullptr;
  j["by_meter"] = nlohmann::json::object();
  j["sampler"] = nullptr;
  if (sampler == nullptr) return j;
  const auto readings = sampler->readings();
  if (readings.size() >= 2) {
    const auto parts = sampler->energy_between(readings.front().time, readings.back().time);
    double sum = 0;
    bool known = true;
    for (size_t m = 0; m < parts.size() && m < meters.infos().size(); ++m) {
      const auto& p = parts[m];
      j["by_meter"][meters.infos()[m].name] = p ? nlohmann::json(*p) : nlohmann::json(nullptr);
      known = known && p.has_value();
      if (p) sum += *p;
    }
    if (known && !parts.empty()) j["energy_j"] = sum;
  }
  const SamplerCost c = sampler->cost();
  j["sampler"] = {
      {"interval_ms", std::chrono::duration<double, std::milli>(sampler->interval()).count()},
      {"readings", c.readings},
      {"wall_s", c.wall_s},
      {"thread_cpu_s", c.thread_cpu_s},
      {"cpu_fraction", c.cpu_fraction},
      {"read_fraction", c.read_fraction}};
  return j;
}

}  // namespace clinbench::energy
