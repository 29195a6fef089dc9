// The arithmetic of fidelity, without a model.
#include "fidelity/divergence.h"

#include <gtest/gtest.h>

#include <cmath>

namespace clinbench {
namespace {

TEST(Divergence, NormalizeLogGivesADistribution) {
  const auto lp = normalize_log({std::log(2.0) - 50, std::log(6.0) - 50});
  EXPECT_NEAR(std::exp(lp[0]), 0.25, 1e-12);
  EXPECT_NEAR(std::exp(lp[1]), 0.75, 1e-12);
}

TEST(Divergence, KlIsZeroForEqualAndMatchesTheFormulaOtherwise) {
  const double p[] = {std::log(0.5), std::log(0.5)};
  const double q[] = {std::log(0.9), std::log(0.1)};
  EXPECT_EQ(kl_divergence(p, p, 2), 0.0);
  const double want = 0.5 * std::log(0.5 / 0.9) + 0.5 * std::log(0.5 / 0.1);
  EXPECT_NEAR(kl_divergence(p, q, 2), want, 1e-12);
  // Not symmetric.
  EXPECT_NE(kl_divergence(q, p, 2), kl_divergence(p, q, 2));
  const float pf[] = {std::log(0.5f), std::log(0.5f)};
  const float qf[] = {std::log(0.9f), std::log(0.1f)};
  EXPECT_NEAR(kl_divergence(pf, qf, 2), want, 1e-6);
}

TEST(Divergence, ArgmaxTakesTheFirstOfEqualValues) {
  const double v[] = {1, 3, 3, 2};
  EXPECT_EQ(argmax(v, 4), 1u);
  const float f[] = {-1, -0.5f, -2};
  EXPECT_EQ(argmax(f, 3), 1u);
}

TEST(Divergence, NearestRankPercentile) {
  EXPECT_EQ(nearest_rank({}, 0.99), 0.0);
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);
  EXPECT_EQ(nearest_rank(v, 0.99), 99.0);
  EXPECT_EQ(nearest_rank(v, 0.5), 50.0);
  EXPECT_EQ(nearest_rank(v, 1.0), 100.0);
  EXPECT_EQ(nearest_rank({7.0}, 0.99), 7.0);
  EXPECT_EQ(nearest_rank({1.0, 2.0, 3.0}, 0.99), 3.0);
}

}  // namespace
}  // namespace clinbench
