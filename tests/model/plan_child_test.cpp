// The loading chain and `inspect` plan in a child process (model/plan_child.h): the plan it gets
// back equals the one built in-process, errors keep their code and message, and a crash while
// planning is an error of the command, not of the supervisor.
#include "model/plan_child.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "clinbench/load.h"
#include "clinbench/model_info.h"
#include "clinbench/plan.h"
#include "test_util.h"

namespace clinbench {
namespace {

TEST(LoadChainPlanChild, EqualsThePlanBuiltInProcess) {
  for (const auto& path : {testing::stories_model(), testing::synthetic_model("gemma2", "f16")}) {
    auto info = read_model_info(path, {.hash = false});
    ASSERT_TRUE(info) << info.error().message;
    PlanOptions po;
    po.n_ctx = 512;
    po.recipe = "mixed";
    auto here = plan_model(*info, po);
    auto child = plan_model_in_child(*info, po);
    ASSERT_TRUE(here) << here.error().message;
    ASSERT_TRUE(child) << child.error().message;
    EXPECT_EQ(child->n_ctx, here->n_ctx);
    EXPECT_EQ(child->accelerator.present, here->accelerator.present);
    EXPECT_GT(child->plan_ms, 0.0);
    ASSERT_EQ(child->strategies.size(), here->strategies.size());
    for (size_t i = 0; i < here->strategies.size(); ++i) {
      const auto& a = child->strategies[i];
      const auto& b = here->strategies[i];
      const std::string what = path + " " + to_string(b.strategy);
      EXPECT_EQ(a.strategy, b.strategy) << what;
      EXPECT_EQ(a.recipe, b.recipe) << what;
      EXPECT_EQ(a.applicable, b.applicable) << what;
      EXPECT_EQ(a.reason, b.reason) << what;
      EXPECT_EQ(a.n_gpu_layers, b.n_gpu_layers) << what;
      EXPECT_EQ(a.n_layers, b.n_layers) << what;
      EXPECT_EQ(a.weight_bytes, b.weight_bytes) << what;
      testing::expect_same_bytes(a.host, b.host, what + " host");
      testing::expect_same_bytes(a.device, b.device, what + " device");
    }
  }
}

TEST(LoadChainPlanChild, ErrorsKeepTheirCodeAndMessage) {
  // A GGUF whose architecture llama.cpp does not know: the child reads the model's facts as
  // the supervisor would, and its error comes back as that reading's.
  testing::ScratchDir dir;
  std::string bytes = testing::read_file(testing::stories_model());
  const std::string key = "general.architecture";
  bytes[bytes.find(key) + key.size() + 4 + 8 + 1] = 'x';  // "lxama"
  const std::string path = dir.file("lxama.gguf");
  testing::write_file(path, bytes);
  auto here = read_model_info(path, {.hash = false});
  ModelInfo info;
  info.path = path;
  auto child = plan_model_in_child(info, PlanOptions{});
  ASSERT_FALSE(here);
  ASSERT_FALSE(child);
  EXPECT_EQ(child.error().code, here.error().code);
  EXPECT_EQ(child.error().message, here.error().message);
  EXPECT_NE(child.error().message.find(path), std::string::npos) << child.error().message;
}

TEST(LoadChainPlanChild, ACrashWhilePlanningIsAnErrorNotTheEnd) {
  ::setenv("CLINBENCH_TEST_CRASH", "plan=segv", 1);
  LoadOptions o;
  o.hash = false;
  o.n_ctx = 256;
  auto log = run_load_chain(testing::stories_model(), o);
  ::unsetenv("CLINBENCH_TEST_CRASH");
  ASSERT_FALSE(log);
  EXPECT_NE(log.error().message.find("planning process was killed by SIGSEGV"), std::string::npos)
      << log.error().message;
  EXPECT_NE(log.error().message.find(testing::stories_model()), std::string::npos);
  // This process goes on: the next chain plans and loads.
  auto again = run_load_chain(testing::stories_model(), o);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->succeeded.has_value());
}

// `inspect` plans in a child as `load` does: an abort inside llama.cpp that no check foresaw is
// one line and exit 1 from both, not the end of clinbench.
TEST(LoadChainPlanChild, InspectPlansInAChildToo) {
  ::setenv("CLINBENCH_TEST_CRASH", "plan=abort", 1);
  const std::string model = testing::stories_model();
  testing::CommandResult i =
      testing::run_command({testing::clinbench_binary(), "inspect", "--no-hash", model});
  testing::CommandResult l = testing::run_command(
      {testing::clinbench_binary(), "load", "--no-hash", "--ctx", "256", model});
  ::unsetenv("CLINBENCH_TEST_CRASH");
  for (const auto* r : {&i, &l}) {
    EXPECT_EQ(r->signal, 0) << r->err;
    EXPECT_EQ(r->exit_code, 1) << r->err;
    EXPECT_EQ(r->err.find("clinbench: " + model + ": the planning process was killed by SIGABRT"),
              0u)
        << r->err;
  }
  EXPECT_EQ(i.err, l.err);
}

}  // namespace
}  // namespace clinbench
