// RAPL meters on a fake powercap tree: packages and DRAM counted, core and psys not, counters
// wrapping, unreadable counters reported with a reason, CLINBENCH_POWERCAP_ROOT honoured.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "clinbench/energy.h"
#include "test_util.h"

namespace clinbench::energy {
namespace {

namespace fs = std::filesystem;

void put(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  testing::write_file(path.string(), content);
}

class EnergyRapl : public ::testing::Test {
 protected:
  void SetUp() override {
    zone("intel-rapl:0", "package-0", 1000, 10000);
    zone("intel-rapl:0:0", "core", 500, 10000);   // inside package 0: never counted
    zone("intel-rapl:0:1", "dram", 9000, 10000);  // counted beside its package
    zone("intel-rapl:0:2", "uncore", 7, 10000);   // inside package 0: never counted
    zone("intel-rapl:1", "package-1", 9900, 20000);
    zone("intel-rapl:2", "psys", 77777, 100000);       // the whole platform: not a package
    zone("intel-rapl-mmio:0", "package-0", 3, 10000);  // a duplicate interface
    put(root() / "intel-rapl" / "enabled", "1\n");     // the control type directory
  }
  fs::path root() const { return fs::path(dir_.path()) / "powercap"; }
  void zone(const std::string& dir, const std::string& name, uint64_t energy, uint64_t range) {
    put(root() / dir / "name", name + "\n");
    put(root() / dir / "energy_uj", std::to_string(energy) + "\n");
    put(root() / dir / "max_energy_range_uj", std::to_string(range) + "\n");
  }
  void set_energy(const std::string& dir, uint64_t energy) {
    put(root() / dir / "energy_uj", std::to_string(energy) + "\n");
  }

 private:
  testing::ScratchDir dir_;
};

TEST_F(EnergyRapl, CountsPackagesAndDramButNotCoreUncoreOrPsys) {
  Detection d = detect_rapl(root());
  EXPECT_TRUE(d.unavailable.empty());
  ASSERT_EQ(d.meters.size(), 3u);
  EXPECT_EQ(d.meters[0]->info().name, "package-0");
  EXPECT_EQ(d.meters[0]->info().domain, "package");
  EXPECT_EQ(d.meters[0]->info().device, "intel-rapl:0");
  EXPECT_EQ(d.meters[1]->info().name, "package-0/dram");
  EXPECT_EQ(d.meters[1]->info().domain, "dram");
  EXPECT_EQ(d.meters[1]->info().device, "intel-rapl:0:1");
  EXPECT_EQ(d.meters[2]->info().name, "package-1");
  for (const auto& m : d.meters) {
    EXPECT_EQ(m->info().source, "rapl");
    EXPECT_EQ(m->info().mode, Mode::kCounter);
  }
}

TEST_F(EnergyRapl, EachCounterWrapsOnItsOwnRange) {
  Meters meters(detect_rapl(root()).meters, {});
  ASSERT_EQ(meters.size(), 3u);
  auto r = meters.read();
  EXPECT_EQ(r.joules, (std::vector<double>{0, 0, 0}));

  set_energy("intel-rapl:0", 1500);    // +500 uJ
  set_energy("intel-rapl:0:1", 100);   // wrapped at 10000: +1000 +100
  set_energy("intel-rapl:1", 50);      // wrapped at 20000: +10100 +50
  set_energy("intel-rapl:0:0", 9999);  // core: ignored
  r = meters.read();
  EXPECT_DOUBLE_EQ(r.joules[0], 500e-6);
  EXPECT_DOUBLE_EQ(r.joules[1], 1100e-6);
  EXPECT_DOUBLE_EQ(r.joules[2], 10150e-6);

  set_energy("intel-rapl:0", 200);  // wrapped: +8500 +200
  r = meters.read();
  EXPECT_DOUBLE_EQ(r.joules[0], 9200e-6);
  EXPECT_DOUBLE_EQ(r.joules[2], 10150e-6);
  EXPECT_TRUE(meters.unavailable().empty());
}

TEST_F(EnergyRapl, ACounterNoWrapExplainsFailsThatMeterOnly) {
  Meters meters(detect_rapl(root()).meters, {});
  static_cast<void>(meters.read());   // the first reading: all zeros, checked above
  set_energy("intel-rapl:1", 30000);  // above its 20000 range
  set_energy("intel-rapl:0", 1000 + 42);
  auto r = meters.read();
  // 30000 >= 9900 reads as a plain increase; a later fall below it with start > range is not a
  // wrap.
  set_energy("intel-rapl:1", 5);
  r = meters.read();
  EXPECT_DOUBLE_EQ(r.joules[0], 42e-6);
  EXPECT_TRUE(std::isnan(r.joules[2]));
  ASSERT_EQ(meters.unavailable().size(), 1u);
  EXPECT_EQ(meters.unavailable()[0].source, "package-1");
  EXPECT_NE(meters.unavailable()[0].reason.find("intel-rapl:1/energy_uj"), std::string::npos)
      << meters.unavailable()[0].reason;
  r = meters.read();  // stays failed
  EXPECT_TRUE(std::isnan(r.joules[2]));
  EXPECT_EQ(meters.unavailable().size(), 1u);
}

TEST_F(EnergyRapl, UnreadableCounterMakesRaplUnavailableWithTheReason) {
  const fs::path counter = root() / "intel-rapl:0:1" / "energy_uj";
  std::string expected;
  if (geteuid() != 0) {
    // What Linux >= 5.10 does to a user: the file is there, mode 0400 root.
    ASSERT_EQ(chmod(counter.c_str(), 0), 0);
    expected = kRaplRootOnly;
  } else {
    // root reads through chmod 000: a directory in place of the file fails the read instead.
    fs::remove(counter);
    fs::create_directory(counter);
    expected = counter.string();
  }
  Detection d = detect_rapl(root());
  EXPECT_TRUE(d.meters.empty());  // not the other zones alone: their sum would look whole
  ASSERT_EQ(d.unavailable.size(), 1u);
  EXPECT_EQ(d.unavailable[0].source, "rapl");
  EXPECT_NE(d.unavailable[0].reason.find(expected), std::string::npos) << d.unavailable[0].reason;

  const Meters meters(std::move(d.meters), std::move(d.unavailable));
  const auto j = meters.to_json();
  EXPECT_TRUE(j["meters"].empty());
  EXPECT_EQ(j["unavailable"][0]["source"], "rapl");
}

TEST_F(EnergyRapl, GarbageCounterIsUnavailableNotZero) {
  put(root() / "intel-rapl:1" / "energy_uj", "permission denied\n");
  Detection d = detect_rapl(root());
  EXPECT_TRUE(d.meters.empty());
  ASSERT_EQ(d.unavailable.size(), 1u);
  EXPECT_NE(d.unavailable[0].reason.find("intel-rapl:1/energy_uj: not a counter"),
            std::string::npos)
      << d.unavailable[0].reason;
}

TEST_F(EnergyRapl, AbsentPowercapIsUnavailableWithTheRoot) {
  const fs::path none = root() / "nothing_here";
  Detection d = detect_rapl(none);
  EXPECT_TRUE(d.meters.empty());
  ASSERT_EQ(d.unavailable.size(), 1u);
  EXPECT_NE(d.unavailable[0].reason.find(none.string()), std::string::npos);

  fs::remove_all(root() / "intel-rapl:0");
  fs::remove_all(root() / "intel-rapl:1");
  d = detect_rapl(root());  // psys only
  EXPECT_TRUE(d.meters.empty());
  ASSERT_EQ(d.unavailable.size(), 1u);
  EXPECT_NE(d.unavailable[0].reason.find("no RAPL package zone"), std::string::npos);
}

TEST_F(EnergyRapl, AmdPackagesCount) {
  fs::remove_all(root());
  zone("amd-energy:0", "package-0", 5, 1000);
  Detection d = detect_rapl(root());
  ASSERT_EQ(d.meters.size(), 1u);
  EXPECT_EQ(d.meters[0]->info().device, "amd-energy:0");
}

TEST_F(EnergyRapl, EnvironmentVariableChoosesTheRoot) {
  const char* before = std::getenv(kPowercapRootEnv);  // NOLINT(concurrency-mt-unsafe)
  const std::string saved = before != nullptr ? before : "";
  ASSERT_EQ(setenv(kPowercapRootEnv, root().c_str(), 1), 0);  // NOLINT(concurrency-mt-unsafe)
  EXPECT_EQ(powercap_root(), root());
  const MetersOptions options{.nvml = false};
  EXPECT_EQ(options.rapl_root, root());
  const Meters meters = Meters::detect(options);
  EXPECT_EQ(meters.size(), 3u);
  ASSERT_EQ(setenv(kPowercapRootEnv, "", 1), 0);  // NOLINT(concurrency-mt-unsafe)
  EXPECT_EQ(powercap_root(), fs::path(kDefaultPowercapRoot));
  if (before != nullptr) {
    ASSERT_EQ(setenv(kPowercapRootEnv, saved.c_str(), 1), 0);  // NOLINT(concurrency-mt-unsafe)
  } else {
    ASSERT_EQ(unsetenv(kPowercapRootEnv), 0);  // NOLINT(concurrency-mt-unsafe)
  }
}

TEST_F(EnergyRapl, MeterSetDescribesMetersAndWhatIsMissing) {
  const Meters meters =
      Meters::detect({.rapl_root = root(), .nvml_library = "libclinbench-no-such-nvml.so.1"});
  const auto j = meters.to_json();
  ASSERT_EQ(j["meters"].size(), 3u);
  EXPECT_EQ(j["meters"][1], nlohmann::json({{"name", "package-0/dram"},
                                            {"source", "rapl"},
                                            {"domain", "dram"},
                                            {"device", "intel-rapl:0:1"},
                                            {"mode", "counter"}}));
  ASSERT_EQ(j["unavailable"].size(), 1u);
  EXPECT_EQ(j["unavailable"][0]["source"], "nvml");
  EXPECT_NE(j["unavailable"][0]["reason"].get<std::string>().find("libclinbench-no-such-nvml"),
            std::string::npos);
}

TEST(EnergyRaplDelta, AtMostOneWrap) {
  EXPECT_EQ(counter_delta(100, 250, 1000), 150u);
  EXPECT_EQ(counter_delta(900, 100, 1000), 200u);
  EXPECT_EQ(counter_delta(900, 100, 0), std::nullopt);
  EXPECT_EQ(counter_delta(2000, 100, 1000), std::nullopt);
}

}  // namespace
}  // namespace clinbench::energy
