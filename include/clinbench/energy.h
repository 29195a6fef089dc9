// Energy meters: RAPL counters through powercap (CPU packages and their DRAM), NVIDIA GPUs through
// NVML (loaded at run time), read together as one EnergyReading and sampled in the background so
// that the energy of any interval of a run (an item, a batch) can be looked up afterwards.
// docs/energy.md describes what is counted and how.
//
// Every meter reports joules accumulated since it was detected; a meter that cannot be read is
// never a silent zero: it is listed as unavailable with a reason, or its readings turn to NaN
// from the moment it fails.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "clinbench/error.h"

namespace clinbench::energy {

using Clock = std::chrono::steady_clock;

// --- meters ---------------------------------------------------------------------------------

enum class Mode {
  kCounter,        // a cumulative hardware counter (RAPL energy_uj, NVML total energy)
  kPowerSampling,  // instantaneous power integrated over time between readings (trapezoid rule)
};
const char* to_string(Mode mode);

// What a meter measures, for the run metadata.
struct MeterInfo {
  std::string name;    // unique within a run: "package-0", "package-0/dram", "gpu-0"
  std::string source;  // "rapl" or "nvml"
  std::string domain;  // "package", "dram" or "gpu"
  std::string device;  // the powercap zone ("intel-rapl:0:1") or the GPU's name
  Mode mode = Mode::kCounter;
};

// A source that was looked for and could not be used, and why.
struct Unavailable {
  std::string source;  // "rapl", "nvml", or a meter's name when it failed during a run
  std::string reason;
};

// One cumulative energy source.
class Meter {
 public:
  virtual ~Meter() = default;
  virtual const MeterInfo& info() const = 0;
  // Joules since the meter's first reading (taken when it was made), as of `now` (the time the
  // caller stamps the reading with; power-sampling meters integrate up to it). An error ends
  // the meter: the caller does not read it again.
  virtual Result<double> read(Clock::time_point now) = 0;
};

// --- RAPL through powercap ------------------------------------------------------------------

inline constexpr const char* kPowercapRootEnv = "CLINBENCH_POWERCAP_ROOT";
inline constexpr const char* kDefaultPowercapRoot = "/sys/class/powercap";
// The reason given when energy_uj exists but may not be read.
inline constexpr const char* kRaplRootOnly =
    "energy_uj is readable by root only on Linux >= 5.10 (CVE-2020-8694)";

// $CLINBENCH_POWERCAP_ROOT when set and not empty, else /sys/class/powercap.
std::filesystem::path powercap_root();

// Energy between two readings of a counter that wraps to 0 after max_range, assuming at most one
// wrap between them; nullopt when end < start and no wrap explains it.
std::optional<uint64_t> counter_delta(uint64_t start, uint64_t end, uint64_t max_range);

struct Detection {
  std::vector<std::unique_ptr<Meter>> meters;
  std::vector<Unavailable> unavailable;
};

// One meter per package zone (`intel-rapl:N` or `amd-energy:N` whose `name` starts with
// "package") and per DRAM subzone of a package (`intel-rapl:N:M` named "dram"). Core, uncore
// and psys zones are not counted: core and uncore are inside the package, psys contains it.
// When any counted zone cannot be read, no RAPL meter is returned (a sum missing one package
// would look plausible and be wrong) and `unavailable` says which file and why.
Detection detect_rapl(const std::filesystem::path& root = powercap_root());

// --- NVIDIA GPUs through NVML ---------------------------------------------------------------

// NVML's return codes that clinbench tells apart (nvmlReturn_t).
inline constexpr int kNvmlSuccess = 0;
inline constexpr int kNvmlNotSupported = 3;

// The few NVML calls the GPU meters make, by device index, so that tests script a fake.
// Implementations need not be thread-safe: a Meters is read by one thread at a time.
class NvmlApi {
 public:
  virtual ~NvmlApi() = default;
  virtual int device_count(unsigned int* count) = 0;
  virtual int device_name(unsigned int index, std::string* name) = 0;
  // Millijoules since the driver was loaded.
  virtual int total_energy_mj(unsigned int index,
                              unsigned long long* mj) = 0;  // NOLINT(runtime/int)
  virtual int power_mw(unsigned int index, unsigned int* mw) = 0;
  virtual std::string error_string(int code) = 0;
};

inline constexpr const char* kNvmlLibrary = "libnvidia-ml.so.1";

// dlopen()s `library` and calls nvmlInit_v2; the result calls nvmlShutdown and dlclose()s when
// destroyed. An error says why (no library: no NVIDIA driver; init failed: NVML's message).
Result<std::shared_ptr<NvmlApi>> load_nvml(const std::string& library = kNvmlLibrary);

// One meter per GPU: counter mode where the total energy counter is supported, power sampling
// where it answers NOT_SUPPORTED, unavailable (with NVML's message) where neither works.
Detection detect_nvml(const std::shared_ptr<NvmlApi>& nvml);

// --- the meter set --------------------------------------------------------------------------

// All meters read at one time; joules[i] belongs to Meters::infos()[i]. NaN for a meter that has
// failed.
struct EnergyReading {
  Clock::time_point time;
  std::vector<double> joules;
};

struct MetersOptions {
  bool rapl = true;
  std::filesystem::path rapl_root = powercap_root();  // read when the options are made
  std::string nvml_library = kNvmlLibrary;
  bool nvml = true;
};

// The meters present on this machine, read together. Not thread-safe: one thread reads it (the
// Sampler serializes its readers).
class Meters {
 public:
  Meters(std::vector<std::unique_ptr<Meter>> meters, std::vector<Unavailable> unavailable);

  // RAPL under options.rapl_root, then each NVIDIA GPU.
  static Meters detect(const MetersOptions& options = {});

  const std::vector<MeterInfo>& infos() const { return infos_; }
  size_t size() const { return meters_.size(); }
  bool empty() const { return meters_.empty(); }
  // Sources not found at detection, and meters that failed since (their reason, once).
  const std::vector<Unavailable>& unavailable() const { return unavailable_; }

  // Reads every meter, stamped `now`. A meter's error turns its value, now and later, to NaN and
  // adds its reason to unavailable().
  EnergyReading read(Clock::time_point now = Clock::now());

  // {"meters": [{"name", "source", "domain", "device", "mode"}...],
  //  "unavailable": [{"source", "reason"}...]}
  nlohmann::json to_json() const;

 private:
  std::vector<std::unique_ptr<Meter>> meters_;
  std::vector<MeterInfo> infos_;
  std::vector<bool> failed_;
  std::vector<Unavailable> unavailable_;
};

// --- the sampler ----------------------------------------------------------------------------

struct SamplerOptions {
  std::chrono::microseconds interval = std::chrono::milliseconds(100);
  // Readings reserved at start() (more grow the store). One reading costs 8 bytes of time and 8
  // per meter: 10 Hz for 10 hours with 4 meters is 360k readings, 14 MB.
  size_t reserve = 36000;
};

// What sampling costs, measured by the sampler itself.
struct SamplerCost {
  double wall_s = 0;        // since start(), up to stop() or now
  double thread_cpu_s = 0;  // CPU time of the sampling thread (CLOCK_THREAD_CPUTIME_ID)
  double read_wall_s = 0;   // wall time spent inside Meters::read, over every reading
  size_t readings = 0;
  double cpu_fraction = 0;   // thread_cpu_s / wall_s
  double read_fraction = 0;  // read_wall_s / wall_s
};

// Reads a Meters every interval on a thread of its own and keeps every reading in memory
// (time + joules per meter, flat), so energy_between() can answer for any interval inside the
// run. Thread-safe: energy_between(), sample_now(), readings() and cost() may be called while it
// runs; start() and stop() from one thread. The Meters' own unavailable() and to_json() change
// when a meter fails: read them once the sampler is stopped.
class Sampler {
 public:
  // `meters` must outlive the sampler.
  explicit Sampler(Meters& meters, SamplerOptions options = {});
  ~Sampler();  // stop()s
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // Takes a first reading, then starts the thread. REQUIRES: not running.
  void start();
  // Stops the thread, joins it, then takes a last reading. Does nothing when not running.
  void stop();
  bool running() const;

  // Takes a reading now, beside the thread's (for a caller that needs the end of an interval
  // covered at once).
  void sample_now();

  // Joules per meter between t0 and t1 (t0 <= t1), interpolating linearly between the readings
  // around each; nullopt for a meter when [t0, t1] is not inside the readings' span or the meter
  // had failed by t1.
  std::vector<std::optional<double>> energy_between(Clock::time_point t0,
                                                    Clock::time_point t1) const;

  std::chrono::microseconds interval() const { return options_.interval; }
  size_t reading_count() const;
  std::vector<EnergyReading> readings() const;
  SamplerCost cost() const;

 private:
  void loop();
  void take_reading();
  std::optional<double> value_at(size_t meter, Clock::time_point t) const;  // REQUIRES: data_mu_

  Meters& meters_;
  const SamplerOptions options_;
  const size_t width_;

  std::mutex read_mu_;  // serializes Meters::read
  mutable std::mutex data_mu_;
  std::vector<Clock::time_point> times_;  // GUARDED_BY(data_mu_), ascending
  std::vector<double> joules_;            // GUARDED_BY(data_mu_), width_ per reading
  double read_wall_s_ = 0;                // GUARDED_BY(data_mu_)
  double thread_cpu_s_ = 0;               // GUARDED_BY(data_mu_)
  Clock::time_point started_{};           // GUARDED_BY(data_mu_)
  Clock::time_point stopped_{};           // GUARDED_BY(data_mu_)

  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool stop_requested_ = false;  // GUARDED_BY(wake_mu_)
  bool running_ = false;         // GUARDED_BY(data_mu_)
  std::thread thread_;
};

// What the meters measured over the sampler's whole span: {"meters", "unavailable" (as
// Meters::to_json), "energy_j" (all meters; null without a meter or when one failed),
// "by_meter": {name: joules or null}, "sampler": {"interval_ms", "readings", "wall_s",
// "thread_cpu_s", "cpu_fraction", "read_fraction"} or null}. `sampler` null: no meter was
// sampled. Read once the sampler is stopped.
nlohmann::json measured_json(const Meters& meters, const Sampler* sampler);

// --- apportioning energy to the work that shared it ----------------------------------------

// Joules of all meters between two times; nullopt when they cannot be measured.
using EnergyOf = std::function<std::optional<double>(Clock::time_point, Clock::time_point)>;

// The energy a Sampler measured, summed over its meters: the readings are extended to t1 first
// when they do not reach it yet; nullopt when any meter has no value over the interval.
EnergyOf energy_of(Sampler& sampler);

// Apportions metered energy to units of work (conversations) that share the steps of a batched
// computation (a llama_decode carrying several sequences' tokens). A step runs from its start to
// the start of the next step (or a pause), and its energy goes to the units in it by their share
// of its tokens. When a unit is settled mid-step, the step is cut there: the part before goes to
// all its units, the rest to the others. Time outside every step (loading, gaps between batches)
// goes to no unit. docs/energy.md states the rule. One thread uses a Ledger.
class Ledger {
 public:
  explicit Ledger(EnergyOf energy_of);

  // A step starts at `t`, carrying `shares[i].second` tokens of unit shares[i].first (units
  // with no tokens are ignored); the step before, if any, ends at `t`.
  void step(Clock::time_point t, const std::vector<std::pair<uint64_t, int64_t>>& shares);
  // The running step, if any, ends at `t`; no step runs until the next step().
  void pause(Clock::time_point t);
  // The joules attributed to `unit` up to `now`, and the unit is forgotten. 0 for a unit that was
  // in no step; nullopt when the energy of any of its steps could not be measured.
  std::optional<double> settle(uint64_t unit, Clock::time_point now);

 private:
  struct Step {
    Clock::time_point begin, end;
    std::vector<std::pair<uint64_t, int64_t>> shares;
    int64_t tokens = 0;
  };
  struct Account {
    double joules = 0;
    bool unmeasured = false;
  };
  void close(Clock::time_point t);
  void price();  // the energy of the closed steps, into the accounts

  EnergyOf energy_of_;
  std::optional<Step> running_;
  std::vector<Step> closed_;
  std::unordered_map<uint64_t, Account> accounts_;
};

}  // namespace clinbench::energy
