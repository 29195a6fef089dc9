// The sampler: readings accumulate on its thread, energy_between() interpolates between them,
// a failed meter gives no energy after it fails, stop() joins, the self-cost is reported.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "clinbench/energy.h"
#include "test_util.h"

namespace clinbench::energy {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;

// Energy that grows linearly in time: joules = watts * (now - origin).
class LinearMeter : public Meter {
 public:
  LinearMeter(std::string name, double watts, Clock::time_point origin)
      : info_{std::move(name), "fake", "package", "linear", Mode::kCounter},
        watts_(watts),
        origin_(origin) {}
  const MeterInfo& info() const override { return info_; }
  Result<double> read(Clock::time_point now) override {
    ++reads;
    if (fail_after >= 0 && reads > fail_after) return make_error(ErrorCode::kIo, "unplugged");
    return watts_ * std::chrono::duration<double>(now - origin_).count();
  }
  int reads = 0;
  int fail_after = -1;

 private:
  MeterInfo info_;
  double watts_;
  Clock::time_point origin_;
};

Meters linear_meters(double watts_a, double watts_b, LinearMeter** b = nullptr) {
  const auto origin = Clock::now();
  std::vector<std::unique_ptr<Meter>> m;
  m.push_back(std::make_unique<LinearMeter>("a", watts_a, origin));
  auto second = std::make_unique<LinearMeter>("b", watts_b, origin);
  if (b != nullptr) *b = second.get();
  m.push_back(std::move(second));
  return Meters(std::move(m), {});
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Waits (without asserting how long it takes) until the thread has taken `n` readings.
void wait_for_readings(const Sampler& s, size_t n) {
  for (int i = 0; i < 100000 && s.reading_count() < n; ++i) {
    std::this_thread::sleep_for(milliseconds(1));
  }
}

TEST(EnergySampler, ThreadAccumulatesReadingsAndIntervalsInterpolate) {
  Meters meters = linear_meters(50.0, 200.0);
  Sampler sampler(meters, {.interval = milliseconds(2)});
  EXPECT_FALSE(sampler.running());
  sampler.start();
  EXPECT_TRUE(sampler.running());
  wait_for_readings(sampler, 6);
  ASSERT_GE(sampler.reading_count(), 6u);
  const auto r = sampler.readings();
  ASSERT_GE(r.size(), 6u);
  for (size_t i = 1; i < r.size(); ++i) EXPECT_LE(r[i - 1].time, r[i].time);
  // Points between readings, so that interpolation is what answers.
  const auto t0 = r[1].time + (r[2].time - r[1].time) / 3;
  const auto t1 = r[4].time + (r[5].time - r[4].time) / 2;
  const auto e = sampler.energy_between(t0, t1);
  ASSERT_EQ(e.size(), 2u);
  ASSERT_TRUE(e[0] && e[1]);
  const double dt = seconds_between(t0, t1);
  EXPECT_NEAR(*e[0], 50.0 * dt, 1e-6 + 1e-3 * 50.0 * dt);
  EXPECT_NEAR(*e[1], 200.0 * dt, 1e-6 + 1e-3 * 200.0 * dt);
  sampler.stop();
  EXPECT_FALSE(sampler.running());
  const size_t after_stop = sampler.reading_count();
  EXPECT_GE(after_stop, r.size() + 1);  // stop() takes a last reading

  const SamplerCost c = sampler.cost();
  EXPECT_GT(c.wall_s, 0.0);
  EXPECT_GE(c.thread_cpu_s, 0.0);
  EXPECT_GE(c.read_wall_s, 0.0);
  EXPECT_GE(c.cpu_fraction, 0.0);
  EXPECT_GE(c.read_fraction, 0.0);
  EXPECT_EQ(c.readings, after_stop);
  sampler.stop();  // a second stop does nothing
  EXPECT_EQ(sampler.reading_count(), after_stop);
}

TEST(EnergySampler, OutsideTheReadingsThereIsNoEnergy) {
  Meters meters = linear_meters(1.0, 1.0);
  Sampler sampler(meters, {.interval = hours(1)});  // only the readings this test asks for
  const auto before = Clock::now();
  EXPECT_EQ(sampler.energy_between(before, before)[0], std::nullopt);  // nothing read yet
  sampler.start();
  sampler.sample_now();
  const auto r = sampler.readings();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(sampler.energy_between(before, r[1].time)[0], std::nullopt);
  EXPECT_EQ(sampler.energy_between(r[0].time, r[1].time + hours(1))[0], std::nullopt);
  EXPECT_EQ(sampler.energy_between(r[1].time, r[0].time)[0], std::nullopt);  // reversed
  const auto whole = sampler.energy_between(r[0].time, r[1].time);
  ASSERT_TRUE(whole[0]);
  EXPECT_NEAR(*whole[0], r[1].joules[0] - r[0].joules[0], 1e-12);
  EXPECT_NEAR(*sampler.energy_between(r[0].time, r[0].time)[0], 0.0, 1e-12);
  sampler.stop();  // joins a thread that is waiting for an hour: the wait is cut short
  EXPECT_EQ(sampler.reading_count(), 3u);
}

TEST(EnergySampler, AMeterThatFailsGivesNoEnergyFromThenOn) {
  LinearMeter* b = nullptr;
  Meters meters = linear_meters(10.0, 20.0, &b);
  b->fail_after = 2;  // the third reading of b fails
  Sampler sampler(meters, {.interval = hours(1)});
  sampler.start();
  sampler.sample_now();
  sampler.sample_now();
  sampler.sample_now();
  sampler.stop();
  const auto r = sampler.readings();
  ASSERT_EQ(r.size(), 5u);
  EXPECT_FALSE(std::isnan(r[1].joules[1]));
  EXPECT_TRUE(std::isnan(r[2].joules[1]));
  EXPECT_TRUE(std::isnan(r[4].joules[1]));
  const auto early = sampler.energy_between(r[0].time, r[1].time);
  ASSERT_TRUE(early[1]);
  EXPECT_NEAR(*early[1], 20.0 * seconds_between(r[0].time, r[1].time), 1e-9);
  const auto late = sampler.energy_between(r[0].time, r[3].time);
  EXPECT_TRUE(late[0]);
  EXPECT_EQ(late[1], std::nullopt);
  ASSERT_EQ(meters.unavailable().size(), 1u);
  EXPECT_EQ(meters.unavailable()[0].source, "b");
  EXPECT_EQ(meters.unavailable()[0].reason, "unplugged");
}

TEST(EnergySampler, RestartsWithFreshReadings) {
  Meters meters = linear_meters(1.0, 2.0);
  Sampler sampler(meters, {.interval = hours(1)});
  sampler.stop();  // never started: nothing to do
  EXPECT_EQ(sampler.reading_count(), 0u);
  EXPECT_EQ(sampler.cost().wall_s, 0.0);
  sampler.start();
  sampler.stop();
  EXPECT_EQ(sampler.reading_count(), 2u);
  sampler.start();
  EXPECT_EQ(sampler.reading_count(), 1u);
  // The destructor stops the running sampler.
}

// Runs the sampler at its default interval on a fake meter, on a fake powercap tree (two packages
// and a DRAM zone: three file reads per reading) and on this machine's meters, and prints what
// sampling costs (docs/energy.md quotes it). Asserts only that the figures are there.
TEST(EnergySampler, ReportsItsOwnCostAtTheDefaultInterval) {
  testing::ScratchDir dir;
  for (const auto& [zone, name] : {std::pair{"intel-rapl:0", "package-0"},
                                   {"intel-rapl:0:0", "dram"},
                                   {"intel-rapl:1", "package-1"}}) {
    const std::string z = dir.path() + "/" + zone;
    std::filesystem::create_directories(z);
    testing::write_file(z + "/name", std::string(name) + "\n");
    testing::write_file(z + "/energy_uj", "1000\n");
    testing::write_file(z + "/max_energy_range_uj", "262143328850\n");
  }
  std::vector<Meters> sets;
  std::vector<std::string> labels = {"fake meter", "fake powercap tree", "this machine"};
  {
    std::vector<std::unique_ptr<Meter>> m;
    m.push_back(std::make_unique<LinearMeter>("fake", 100.0, Clock::now()));
    sets.emplace_back(std::move(m), std::vector<Unavailable>{});
  }
  sets.emplace_back(detect_rapl(dir.path()).meters, std::vector<Unavailable>{});
  ASSERT_EQ(sets.back().size(), 3u);
  sets.push_back(Meters::detect());
  std::vector<std::unique_ptr<Sampler>> samplers;
  for (auto& m : sets) samplers.push_back(std::make_unique<Sampler>(m));
  for (auto& s : samplers) s->start();
  wait_for_readings(*samplers[0], 11);
  for (auto& s : samplers) s->stop();
  for (size_t i = 0; i < samplers.size(); ++i) {
    const SamplerCost c = samplers[i]->cost();
    EXPECT_GE(c.readings, 2u);
    EXPECT_GT(c.wall_s, 0.0);
    EXPECT_GE(c.thread_cpu_s, 0.0);
    EXPECT_GE(c.cpu_fraction, 0.0);
    EXPECT_GE(c.read_fraction, 0.0);
    std::cout << "[sampler cost] " << labels[i] << " (" << sets[i].size()
              << " meters): " << c.readings << " readings in " << c.wall_s << " s, thread CPU "
              << c.thread_cpu_s * 1e3 << " ms (" << c.cpu_fraction * 100 << "% of wall), reading "
              << c.read_wall_s * 1e3 << " ms (" << c.read_fraction * 100 << "% of wall)\n";
  }
}

}  // namespace
}  // namespace clinbench::energy
