// NVIDIA GPU energy through NVML, loaded with dlopen() so that clinbench builds and runs where no
// driver is installed: the total energy counter where the GPU has one (Volta and later), power
// samples integrated over time where it answers NOT_SUPPORTED.
#include <dlfcn.h>

#include <string>

#include "clinbench/energy.h"

namespace clinbench::energy {
namespace {

// The NVML declarations used, restated from nvml.h (not a build dependency). nvmlDevice_t is an
// opaque pointer; nvmlReturn_t an int enum.
using NvmlDevice = void*;
using NvmlInitFn = int (*)();
using NvmlShutdownFn = int (*)();
using NvmlDeviceGetCountFn = int (*)(unsigned int*);
using NvmlDeviceGetHandleByIndexFn = int (*)(unsigned int, NvmlDevice*);
using NvmlDeviceGetTotalEnergyConsumptionFn = int (*)(NvmlDevice,
                                                      unsigned long long*);  // NOLINT(runtime/int)
using NvmlDeviceGetPowerUsageFn = int (*)(NvmlDevice, unsigned int*);
using NvmlDeviceGetNameFn = int (*)(NvmlDevice, char*, unsigned int);
using NvmlErrorStringFn = const char* (*)(int);

class DlNvml final : public NvmlApi {
 public:
  DlNvml(void* lib, NvmlShutdownFn shutdown) : lib_(lib), shutdown_(shutdown) {}
  ~DlNvml() override {
    shutdown_();
    dlclose(lib_);
  }
  DlNvml(const DlNvml&) = delete;
  DlNvml& operator=(const DlNvml&) = delete;

  int device_count(unsigned int* count) override { return count_(count); }
  int device_name(unsigned int index, std::string* name) override {
    NvmlDevice d = nullptr;
    if (const int r = handle_(index, &d); r != kNvmlSuccess) return r;
    char buf[96] = {};  // NVML_DEVICE_NAME_V2_BUFFER_SIZE
    const int r = name_(d, buf, sizeof(buf));
    if (r == kNvmlSuccess) *name = buf;
    return r;
  }
  int total_energy_mj(unsigned int index, unsigned long long* mj) override {  // NOLINT
    NvmlDevice d = nullptr;
    if (const int r = handle_(index, &d); r != kNvmlSuccess) return r;
    return energy_(d, mj);
  }
  int power_mw(unsigned int index, unsigned int* mw) override {
    NvmlDevice d = nullptr;
    if (const int r = handle_(index, &d); r != kNvmlSuccess) return r;
    return power_(d, mw);
  }
  std::string error_string(int code) override {
    const char* s = error_ != nullptr ? error_(code) : nullptr;
    return s != nullptr ? s : "NVML error " + std::to_string(code);
  }

  void* lib_;
  NvmlShutdownFn shutdown_;
  NvmlDeviceGetCountFn count_ = nullptr;
  NvmlDeviceGetHandleByIndexFn handle_ = nullptr;
  NvmlDeviceGetTotalEnergyConsumptionFn energy_ = nullptr;
  NvmlDeviceGetPowerUsageFn power_ = nullptr;
  NvmlDeviceGetNameFn name_ = nullptr;
  NvmlErrorStringFn error_ = nullptr;
};

template <typename Fn>
bool find(void* lib, const char* symbol, Fn* out) {
  *out = reinterpret_cast<Fn>(dlsym(lib, symbol));  // NOLINT: dlsym's void* to a function
  return *out != nullptr;
}

std::string nvml_message(NvmlApi& nvml, int code) {
  return nvml.error_string(code) + " (" + std::to_string(code) + ")";
}

class NvmlMeter final : public Meter {
 public:
  NvmlMeter(std::shared_ptr<NvmlApi> nvml, unsigned int index, MeterInfo info,
            unsigned long long first_mj, unsigned int first_mw, Clock::time_point t0)  // NOLINT
      : nvml_(std::move(nvml)),
        index_(index),
        info_(std::move(info)),
        first_mj_(first_mj),
        last_mw_(first_mw),
        last_t_(t0) {}

  const MeterInfo& info() const override { return info_; }

  Result<double> read(Clock::time_point now) override {
    if (info_.mode == Mode::kCounter) {
      unsigned long long mj = 0;  // NOLINT(runtime/int)
      if (const int r = nvml_->total_energy_mj(index_, &mj); r != kNvmlSuccess) {
        return fail("nvmlDeviceGetTotalEnergyConsumption", r);
      }
      // The counter counts from driver load and does not wrap in practice (64 bits of mJ).
      if (mj < first_mj_) {
        return make_error(ErrorCode::kCorrupt, info_.name + " (" + info_.device +
                                                   "): the energy counter went backwards");
      }
      return static_cast<double>(mj - first_mj_) / 1e3;
    }
    unsigned int mw = 0;
    if (const int r = nvml_->power_mw(index_, &mw); r != kNvmlSuccess) {
      return fail("nvmlDeviceGetPowerUsage", r);
    }
    // Trapezoid between the previous sample and this one: W * s = J.
    const double dt = std::chrono::duration<double>(now - last_t_).count();
    if (dt > 0) joules_ += (static_cast<double>(last_mw_) + mw) / 2.0 / 1e3 * dt;
    last_mw_ = mw;
    last_t_ = now;
    return joules_;
  }

 private:
  Result<double> fail(const char* call, int code) {
    return make_error(ErrorCode::kIo, info_.name + " (" + info_.device + "): " + call + ": " +
                                          nvml_message(*nvml_, code));
  }

  std::shared_ptr<NvmlApi> nvml_;
  unsigned int index_;
  MeterInfo info_;
  unsigned long long first_mj_;  // NOLINT(runtime/int)
  unsigned int last_mw_;
  Clock::time_point last_t_;
  double joules_ = 0;
};

}  // namespace

Result<std::shared_ptr<NvmlApi>> load_nvml(const std::string& library) {
  void* lib = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    return make_error(ErrorCode::kNotFound, "cannot load " + library + " (no NVIDIA driver?): " +
                                                (why != nullptr ? why : "dlopen failed"));
  }
  NvmlInitFn init = nullptr;
  NvmlShutdownFn shutdown = nullptr;
  if (!find(lib, "nvmlInit_v2", &init) || !find(lib, "nvmlShutdown", &shutdown)) {
    dlclose(lib);
    return make_error(ErrorCode::kUnsupported, library + ": no nvmlInit_v2 or nvmlShutdown");
  }
  auto nvml = std::make_shared<DlNvml>(lib, shutdown);
  const bool found = find(lib, "nvmlDeviceGetCount_v2", &nvml->count_) &&
                     find(lib, "nvmlDeviceGetHandleByIndex_v2", &nvml->handle_) &&
                     find(lib, "nvmlDeviceGetTotalEnergyConsumption", &nvml->energy_) &&
                     find(lib, "nvmlDeviceGetPowerUsage", &nvml->power_) &&
                     find(lib, "nvmlDeviceGetName", &nvml->name_) &&
                     find(lib, "nvmlErrorString", &nvml->error_);
  if (!found) {
    nvml->shutdown_ = [] { return 0; };  // not initialized yet: nothing to shut down
    return make_error(ErrorCode::kUnsupported, library + ": a required NVML function is missing");
  }
  if (const int r = init(); r != kNvmlSuccess) {
    const std::string why = nvml_message(*nvml, r);
    nvml->shutdown_ = [] { return 0; };
    return make_error(ErrorCode::kUnsupported, library + ": nvmlInit_v2: " + why);
  }
  return std::shared_ptr<NvmlApi>(std::move(nvml));
}

Detection detect_nvml(const std::shared_ptr<NvmlApi>& nvml) {
  Detection out;
  unsigned int count = 0;
  if (const int r = nvml->device_count(&count); r != kNvmlSuccess) {
    out.unavailable.push_back({"nvml", "nvmlDeviceGetCount_v2: " + nvml_message(*nvml, r)});
    return out;
  }
  if (count == 0) out.unavailable.push_back({"nvml", "no NVIDIA GPU"});
  for (unsigned int i = 0; i < count; ++i) {
    const std::string name = "gpu-" + std::to_string(i);
    std::string device;
    if (const int r = nvml->device_name(i, &device); r != kNvmlSuccess) {
      out.unavailable.push_back({name, "nvmlDeviceGetName: " + nvml_message(*nvml, r)});
      continue;
    }
    const auto t0 = Clock::now();
    unsigned long long mj = 0;  // NOLINT(runtime/int)
    const int er = nvml->total_energy_mj(i, &mj);
    if (er == kNvmlSuccess) {
      out.meters.push_back(std::make_unique<NvmlMeter>(
          nvml, i, MeterInfo{name, "nvml", "gpu", device, Mode::kCounter}, mj, 0, t0));
      continue;
    }
    if (er != kNvmlNotSupported) {
      out.unavailable.push_back(
          {name, device + ": nvmlDeviceGetTotalEnergyConsumption: " + nvml_message(*nvml, er)});
      continue;
    }
    unsigned int mw = 0;
    if (const int pr = nvml->power_mw(i, &mw); pr != kNvmlSuccess) {
      out.unavailable.push_back({name, device +
                                           ": no energy counter, and nvmlDeviceGetPowerUsage: " +
                                           nvml_message(*nvml, pr)});
      continue;
    }
    out.meters.push_back(std::make_unique<NvmlMeter>(
        nvml, i, MeterInfo{name, "nvml", "gpu", device, Mode::kPowerSampling}, 0, mw, t0));
  }
  return out;
}

}  // namespace clinbench::energy
