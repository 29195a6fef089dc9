// The ledger: a step's energy goes to its units by their tokens, a settle cuts the running step,
// time outside steps goes to no unit, an unmeasured step leaves its units without a value.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "clinbench/energy.h"

namespace clinbench::energy {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const Clock::time_point kT0 = Clock::time_point{} + std::chrono::hours(1);
Clock::time_point at(double s) {
  return kT0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// 10 W, except over [dark_from, dark_to), where nothing can be measured.
struct TenWatts {
  std::optional<double> dark_from, dark_to;
  int calls = 0;
  std::optional<double> operator()(Clock::time_point a, Clock::time_point b) {
    ++calls;
    const double s0 = std::chrono::duration<double>(a - kT0).count();
    const double s1 = std::chrono::duration<double>(b - kT0).count();
    if (dark_from && s1 > *dark_from && s0 < *dark_to) return std::nullopt;
    return 10.0 * (s1 - s0);
  }
};

TEST(EnergyLedger, AStepsEnergyGoesToItsUnitsByTokens) {
  Ledger l(TenWatts{});
  l.step(at(0), {{1, 3}, {2, 1}});  // 1 s: 10 J, 7.5 to unit 1, 2.5 to unit 2
  l.step(at(1), {{1, 1}, {2, 1}});  // 1 s: 10 J, 5 each
  l.pause(at(2));
  EXPECT_DOUBLE_EQ(*l.settle(1, at(5)), 12.5);
  EXPECT_DOUBLE_EQ(*l.settle(2, at(5)), 7.5);
}

TEST(EnergyLedger, SettlingCutsTheRunningStepAndTheRestGoesToTheOthers) {
  Ledger l(TenWatts{});
  l.step(at(0), {{1, 1}, {2, 1}});
  // Unit 1 ends after 1 s of the step: 5 J. The step goes on with unit 2 alone for 2 s more.
  EXPECT_DOUBLE_EQ(*l.settle(1, at(1)), 5.0);
  l.pause(at(3));
  EXPECT_DOUBLE_EQ(*l.settle(2, at(3)), 25.0);  // 5 + 20: the 30 J of the step, all told
}

TEST(EnergyLedger, TimeOutsideStepsGoesToNoUnit) {
  Ledger l(TenWatts{});
  l.step(at(0), {{1, 1}});
  l.pause(at(1));
  l.step(at(5), {{1, 1}});  // 4 s of nothing in between
  l.pause(at(6));
  EXPECT_DOUBLE_EQ(*l.settle(1, at(6)), 20.0);
}

TEST(EnergyLedger, UnitsWithoutTokensAndUnitsNeverSeen) {
  Ledger l(TenWatts{});
  l.step(at(0), {{1, 2}, {2, 0}});
  l.pause(at(1));
  EXPECT_DOUBLE_EQ(*l.settle(1, at(1)), 10.0);
  EXPECT_DOUBLE_EQ(*l.settle(2, at(1)), 0.0);
  EXPECT_DOUBLE_EQ(*l.settle(3, at(1)), 0.0);
  // A settled unit starts over.
  l.step(at(2), {{1, 1}});
  EXPECT_DOUBLE_EQ(*l.settle(1, at(3)), 10.0);
}

TEST(EnergyLedger, AnUnmeasuredStepLeavesItsUnitsWithoutAValue) {
  TenWatts meter;
  meter.dark_from = 1.0;
  meter.dark_to = 2.0;
  Ledger l(meter);
  l.step(at(0), {{1, 1}, {2, 1}});
  l.step(at(1), {{2, 1}});  // dark: unit 2 has no value, unit 1 (not in it) does
  l.step(at(2), {{1, 1}});
  l.pause(at(3));
  EXPECT_DOUBLE_EQ(*l.settle(1, at(3)), 15.0);
  EXPECT_FALSE(l.settle(2, at(3)));
}

TEST(EnergyLedger, ManyUnitsInManyStepsConserveTheEnergy) {
  Ledger l(TenWatts{});
  // 32 units over 100 steps of 10 ms, each with its own token count, units ending one by one.
  double total = 0;
  std::vector<uint64_t> live;
  for (uint64_t u = 0; u < 32; ++u) live.push_back(u);
  for (int k = 0; k < 100; ++k) {
    std::vector<std::pair<uint64_t, int64_t>> shares;
    for (const uint64_t u : live) shares.emplace_back(u, static_cast<int64_t>(1 + (u + k) % 5));
    l.step(at(k * 0.01), shares);
    if (k % 3 == 2 && live.size() > 1) {
      total += *l.settle(live.back(), at(k * 0.01 + 0.005));
      live.pop_back();
    }
  }
  l.pause(at(1.0));
  for (const uint64_t u : live) total += *l.settle(u, at(1.0));
  EXPECT_NEAR(total, 10.0, 1e-9);  // 1 s at 10 W, none lost, none twice
}

// Energy that grows linearly in time: joules = watts * (now - origin).
class LinearMeter : public Meter {
 public:
  LinearMeter(double watts, Clock::time_point origin)
      : info_{"linear", "fake", "package", "linear", Mode::kCounter},
        watts_(watts),
        origin_(origin) {}
  const MeterInfo& info() const override { return info_; }
  Result<double> read(Clock::time_point now) override {
    return watts_ * std::chrono::duration<double>(now - origin_).count();
  }

 private:
  MeterInfo info_;
  double watts_;
  Clock::time_point origin_;
};

TEST(EnergyLedger, OnASamplerItReadsTheMetersUpToTheEndOfAStep) {
  std::vector<std::unique_ptr<Meter>> m;
  m.push_back(std::make_unique<LinearMeter>(20.0, Clock::now()));
  m.push_back(std::make_unique<LinearMeter>(5.0, Clock::now()));
  Meters meters(std::move(m), {});
  // A sampler that would read only once an hour: the ledger's reads come from sample_now().
  Sampler sampler(meters, {std::chrono::hours(1), 16});
  sampler.start();
  Ledger l(energy_of(sampler));
  const auto t0 = Clock::now();
  l.step(t0, {{7, 1}});
  std::this_thread::sleep_for(milliseconds(20));
  const auto t1 = Clock::now();
  const auto joules = l.settle(7, t1);  // t1 is after every reading: one is taken now
  ASSERT_TRUE(joules);
  EXPECT_NEAR(*joules, 25.0 * std::chrono::duration<double>(t1 - t0).count(), 1e-6);
  EXPECT_GE(sampler.reading_count(), 2u);
  sampler.stop();
}

}  // namespace
}  // namespace clinbench::energy
