// GPU meters on a scripted NVML: counter mode, power sampling integrated by the trapezoid rule,
// errors at detection and during a run; the real loader where no driver is installed.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "clinbench/energy.h"

namespace clinbench::energy {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kGpuIsLost = 15;  // NVML_ERROR_GPU_IS_LOST

struct FakeGpu {
  std::string name = "Fake GPU";
  int name_error = kNvmlSuccess;
  int energy_error = kNvmlSuccess;  // kNvmlNotSupported: power sampling
  int power_error = kNvmlSuccess;
  unsigned long long energy_mj = 0;  // NOLINT(runtime/int)
  unsigned int power_mw = 0;
};

class FakeNvml : public NvmlApi {
 public:
  std::vector<FakeGpu> gpus;
  int count_error = kNvmlSuccess;

  int device_count(unsigned int* count) override {
    *count = static_cast<unsigned int>(gpus.size());
    return count_error;
  }
  int device_name(unsigned int i, std::string* name) override {
    *name = gpus.at(i).name;
    return gpus.at(i).name_error;
  }
  int total_energy_mj(unsigned int i, unsigned long long* mj) override {  // NOLINT
    *mj = gpus.at(i).energy_mj;
    return gpus.at(i).energy_error;
  }
  int power_mw(unsigned int i, unsigned int* mw) override {
    *mw = gpus.at(i).power_mw;
    return gpus.at(i).power_error;
  }
  std::string error_string(int code) override {
    if (code == kGpuIsLost) return "GPU is lost";
    if (code == kNvmlNotSupported) return "Not Supported";
    return "Unknown Error";
  }
};

TEST(EnergyNvml, CounterModeReportsJoulesSinceDetection) {
  auto nvml = std::make_shared<FakeNvml>();
  nvml->gpus.push_back({.name = "Fake H100", .energy_mj = 5'000'000});
  Detection d = detect_nvml(nvml);
  EXPECT_TRUE(d.unavailable.empty());
  ASSERT_EQ(d.meters.size(), 1u);
  EXPECT_EQ(d.meters[0]->info().name, "gpu-0");
  EXPECT_EQ(d.meters[0]->info().device, "Fake H100");
  EXPECT_EQ(d.meters[0]->info().source, "nvml");
  EXPECT_EQ(d.meters[0]->info().mode, Mode::kCounter);
  Meters meters(std::move(d.meters), {});
  EXPECT_DOUBLE_EQ(meters.read().joules[0], 0.0);
  nvml->gpus[0].energy_mj += 123'456;
  EXPECT_DOUBLE_EQ(meters.read().joules[0], 123.456);
  EXPECT_EQ(meters.to_json()["meters"][0]["mode"], "counter");
}

TEST(EnergyNvml, PowerSamplingIntegratesKnownStepsByTrapezoids) {
  auto nvml = std::make_shared<FakeNvml>();
  nvml->gpus.push_back(
      {.name = "Fake T4", .energy_error = kNvmlNotSupported, .power_mw = 100'000});  // 100 W
  Detection d = detect_nvml(nvml);
  ASSERT_EQ(d.meters.size(), 1u);
  EXPECT_EQ(d.meters[0]->info().mode, Mode::kPowerSampling);
  Meters meters(std::move(d.meters), {});
  EXPECT_EQ(meters.to_json()["meters"][0]["mode"], "power_sampling");

  // Times chosen by the test: the meter integrates between the times it is given.
  const auto t0 = Clock::now() + seconds(1);
  const double j0 = meters.read(t0).joules[0];  // 100 W from detection to t0
  EXPECT_GT(j0, 0.0);
  nvml->gpus[0].power_mw = 200'000;
  const double j1 = meters.read(t0 + seconds(1)).joules[0];  // (100 + 200) / 2 W for 1 s
  EXPECT_NEAR(j1 - j0, 150.0, 1e-9);
  const double j2 = meters.read(t0 + seconds(3)).joules[0];  // 200 W for 2 s
  EXPECT_NEAR(j2 - j1, 400.0, 1e-9);
  nvml->gpus[0].power_mw = 0;
  const double j3 = meters.read(t0 + seconds(3) + milliseconds(500)).joules[0];  // 100 W, 0.5 s
  EXPECT_NEAR(j3 - j2, 50.0, 1e-9);
  const double j4 = meters.read(t0 + seconds(10)).joules[0];  // idle
  EXPECT_NEAR(j4 - j3, 0.0, 1e-9);
}

TEST(EnergyNvml, ADeviceLostDuringTheRunTurnsItsMeterOffWithTheReason) {
  auto nvml = std::make_shared<FakeNvml>();
  nvml->gpus.push_back({.name = "GPU A", .energy_mj = 0});
  nvml->gpus.push_back({.name = "GPU B", .energy_mj = 1000});
  Meters meters(detect_nvml(nvml).meters, {});
  ASSERT_EQ(meters.size(), 2u);
  static_cast<void>(meters.read());
  nvml->gpus[0].energy_error = kGpuIsLost;
  nvml->gpus[1].energy_mj += 2000;
  auto r = meters.read();
  EXPECT_TRUE(std::isnan(r.joules[0]));
  EXPECT_DOUBLE_EQ(r.joules[1], 2.0);
  ASSERT_EQ(meters.unavailable().size(), 1u);
  EXPECT_EQ(meters.unavailable()[0].source, "gpu-0");
  EXPECT_NE(meters.unavailable()[0].reason.find("GPU is lost"), std::string::npos)
      << meters.unavailable()[0].reason;
  nvml->gpus[0].energy_error = kNvmlSuccess;  // back: still off, its total would have a hole
  r = meters.read();
  EXPECT_TRUE(std::isnan(r.joules[0]));
}

TEST(EnergyNvml, PowerSamplingErrorMidRunTurnsTheMeterOff) {
  auto nvml = std::make_shared<FakeNvml>();
  nvml->gpus.push_back({.energy_error = kNvmlNotSupported, .power_mw = 50'000});
  Meters meters(detect_nvml(nvml).meters, {});
  static_cast<void>(meters.read());
  nvml->gpus[0].power_error = 999;
  EXPECT_TRUE(std::isnan(meters.read().joules[0]));
  ASSERT_EQ(meters.unavailable().size(), 1u);
  EXPECT_NE(meters.unavailable()[0].reason.find("nvmlDeviceGetPowerUsage"), std::string::npos);
}

TEST(EnergyNvml, DevicesThatCannotBeMeasuredAreUnavailableWithReasons) {
  auto nvml = std::make_shared<FakeNvml>();
  nvml->gpus.push_back({.name = "No name", .name_error = 999});
  nvml->gpus.push_back(
      {.name = "Neither", .energy_error = kNvmlNotSupported, .power_error = kNvmlNotSupported});
  nvml->gpus.push_back({.name = "Broken", .energy_error = kGpuIsLost});
  nvml->gpus.push_back({.name = "Fine"});
  Detection d = detect_nvml(nvml);
  ASSERT_EQ(d.meters.size(), 1u);
  EXPECT_EQ(d.meters[0]->info().name, "gpu-3");
  ASSERT_EQ(d.unavailable.size(), 3u);
  EXPECT_EQ(d.unavailable[0].source, "gpu-0");
  EXPECT_NE(d.unavailable[1].reason.find("no energy counter"), std::string::npos);
  EXPECT_NE(d.unavailable[2].reason.find("GPU is lost"), std::string::npos);

  nvml->count_error = 999;
  d = detect_nvml(nvml);
  EXPECT_TRUE(d.meters.empty());
  ASSERT_EQ(d.unavailable.size(), 1u);
  EXPECT_NE(d.unavailable[0].reason.find("nvmlDeviceGetCount_v2"), std::string::npos);

  nvml->count_error = kNvmlSuccess;
  nvml->gpus.clear();
  d = detect_nvml(nvml);
  ASSERT_EQ(d.unavailable.size(), 1u);
  EXPECT_EQ(d.unavailable[0].reason, "no NVIDIA GPU");
}

TEST(EnergyNvml, MissingLibraryIsUnavailableWithTheReason) {
  const auto r = load_nvml("libclinbench-no-such-nvml.so.1");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("libclinbench-no-such-nvml.so.1"), std::string::npos)
      << r.error().message;
}

// On a machine without the NVIDIA driver (the CI containers) the real loader says so; on one
// with it, every GPU is either a meter or unavailable with a reason.
TEST(EnergyNvml, RealLoaderOnThisMachineAnswersWithoutCrashing) {
  auto r = load_nvml();
  if (!r) {
    EXPECT_NE(r.error().message.find(kNvmlLibrary), std::string::npos) << r.error().message;
  } else {
    const Detection d = detect_nvml(*r);
    EXPECT_FALSE(d.meters.empty() && d.unavailable.empty());
    for (const auto& u : d.unavailable) EXPECT_FALSE(u.reason.empty());
  }
  const Meters meters = Meters::detect({.rapl = false});
  const auto j = meters.to_json();
  if (!r) {
    ASSERT_EQ(j["unavailable"].size(), 1u);
    EXPECT_EQ(j["unavailable"][0]["source"], "nvml");
  }
  EXPECT_EQ(j["meters"].size(), meters.size());
}

}  // namespace
}  // namespace clinbench::energy
