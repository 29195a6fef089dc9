// The vectorised log-sum-exp against a plain double-precision reference.
#include "backend/log_sum_exp.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace clinbench {
namespace {

double reference(const std::vector<float>& x) {
  double mx = x[0];
  for (float v : x) mx = std::max<double>(mx, v);
  double s = 0;
  for (float v : x) s += std::exp(static_cast<double>(v) - mx);
  return mx + std::log(s);
}

TEST(LogSumExp, MatchesDoublePrecisionOnVocabularySizedLogits) {
  std::mt19937 rng(7);
  for (double spread : {0.5, 3.0, 12.0, 60.0}) {
    for (int n : {1, 7, 1023, 1025, 32000, 128256}) {
      std::normal_distribution<float> d(2.0f, static_cast<float>(spread));
      std::vector<float> x(static_cast<size_t>(n));
      for (auto& v : x) v = d(rng);
      const double want = reference(x);
      EXPECT_NEAR(log_sum_exp(x.data(), n), want, 1e-5 * std::max(1.0, std::abs(want)))
          << "n " << n << " spread " << spread;
    }
  }
}

TEST(LogSumExp, FarBelowTheMaximumAndNegativeInfinityAreNegligible) {
  std::vector<float> x = {10.0f, 10.0f, -1e30f, -INFINITY, -200.0f};
  EXPECT_NEAR(log_sum_exp(x.data(), 5), 10.0 + std::log(2.0), 1e-6);
  std::vector<float> one = {-3.5f};
  EXPECT_NEAR(log_sum_exp(one.data(), 1), -3.5, 1e-6);
}

}  // namespace
}  // namespace clinbench
