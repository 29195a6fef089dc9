// The plan's JSON form (inspect --json, and the planning child's answer) reads back as written;
// a malformed one is an error that says what is wrong.
#include <gtest/gtest.h>

#include "clinbench/plan.h"

namespace clinbench {
namespace {

Plan sample_plan() {
  Plan p;
  p.n_ctx = 4096;
  p.plan_ms = 12.5;
  p.accelerator = {true, "CUDA0", "NVIDIA H200", 150ull << 30, 140ull << 30};
  StrategyPlan s;
  s.strategy = Strategy::kQuantizeQ4;
  s.recipe = "mixed";
  s.host = {1, 2, 3, 4};
  s.device = {5, 6, 7, 0};
  s.n_gpu_layers = 30;
  s.n_layers = 32;
  s.weight_bytes = 99;
  p.strategies.push_back(s);
  StrategyPlan n;
  n.strategy = Strategy::kNative;
  n.applicable = false;
  n.reason = "why not";
  p.strategies.push_back(n);
  return p;
}

TEST(PlanJson, RoundTrips) {
  const Plan p = sample_plan();
  auto back = plan_from_json(to_json(p));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(to_json(*back), to_json(p));
  EXPECT_EQ(back->strategies[0].host.compute, 3u);
  EXPECT_EQ(back->strategies[1].reason, "why not");
  EXPECT_EQ(back->accelerator.description, "NVIDIA H200");
}

TEST(PlanJson, MalformedPlansAreErrorsNamingTheField) {
  auto j = to_json(sample_plan());
  j["strategies"][0]["strategy"] = "quantize:q3";
  auto r = plan_from_json(j);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("quantize:q3"), std::string::npos) << r.error().message;

  j = to_json(sample_plan());
  j["strategies"][0]["n_gpu_layers"] = "thirty";
  r = plan_from_json(j);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);

  j = to_json(sample_plan());
  j.erase("n_ctx");
  r = plan_from_json(j);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("n_ctx"), std::string::npos) << r.error().message;

  r = plan_from_json(nlohmann::json::array());
  EXPECT_FALSE(r);
}

}  // namespace
}  // namespace clinbench
