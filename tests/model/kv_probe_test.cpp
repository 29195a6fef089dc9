// The KV layout probe's decode-rate measurement (model/kv_probe.h) on the real model: it times
// the steps it is asked for, gives up after kMinProbeSteps only when even its fastest step is
// slower than the rate given, and leaves the context's memory empty.
#include "model/kv_probe.h"

#include <gtest/gtest.h>
#include <llama.h>

#include "model/backend_init.h"
#include "test_util.h"

namespace clinbench {
namespace {

TEST(RunKvProbe, TimesItsStepsAndGivesUpOnlyBelowTheRateGiven) {
  ensure_llama_backend();
  llama_model_params mp = llama_model_default_params();
  llama_model* model = llama_model_load_from_file(testing::stories_model().c_str(), mp);
  ASSERT_NE(model, nullptr);
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 256 * 4;
  cp.n_seq_max = 4;
  cp.n_threads = 2;
  cp.kv_unified = false;
  llama_context* ctx = llama_init_from_model(model, cp);
  ASSERT_NE(ctx, nullptr);

  auto all = measure_decode_rate(ctx, 4, 64, 6);
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->steps, 6);
  EXPECT_GT(all->tok_s, 0);
  // No rate reachable: it stops after the minimum. A rate every step beats: it times them all.
  auto gave_up = measure_decode_rate(ctx, 4, 64, 6, 1e15);
  ASSERT_TRUE(gave_up) << gave_up.error().message;
  EXPECT_EQ(gave_up->steps, kMinProbeSteps);
  EXPECT_GT(gave_up->tok_s, 0);
  auto kept_on = measure_decode_rate(ctx, 4, 64, 6, 1e-9);
  ASSERT_TRUE(kept_on) << kept_on.error().message;
  EXPECT_EQ(kept_on->steps, 6);
  // The memory is left empty for the task.
  for (int s = 0; s < 4; ++s) {
    EXPECT_EQ(llama_memory_seq_pos_max(llama_get_memory(ctx), s), -1) << s;
  }
  llama_free(ctx);
  llama_model_free(model);
}

}  // namespace
}  // namespace clinbench
