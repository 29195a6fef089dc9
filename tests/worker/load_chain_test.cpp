// The loading chain on the real trained model and on synthetic ones: every strategy loads,
// native matches llama.cpp's own greedy output, fallback under a host budget is real, and a
// crashing worker is survived and recorded.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "clinbench/load.h"
#include "clinbench/model_info.h"
#include "clinbench/plan.h"
#include "clinbench/units.h"
#include "test_util.h"

namespace clinbench {
namespace {

LoadOptions quick(const std::string& strategy) {
  LoadOptions o;
  o.strategy = strategy;
  o.hash = false;
  o.n_ctx = 512;
  o.n_threads = 2;
  return o;
}

TEST(LoadChain, EveryStrategyLoadsTheRealModel) {
  for (const char* s : {"native", "quantize:q8", "quantize:q4", "offload", "cpu"}) {
    auto log = run_load_chain(testing::stories_model(), quick(s));
    ASSERT_TRUE(log) << log.error().message;
    ASSERT_EQ(log->attempts.size(), 1u);
    const Attempt& a = log->attempts[0];
    EXPECT_EQ(a.outcome, Outcome::kOk) << s << ": " << a.reason << "\n" << a.log_tail;
    EXPECT_TRUE(a.warmup.passed) << s;
    EXPECT_FALSE(a.warmup.generation.empty()) << s;
    EXPECT_TRUE(a.warmup.logits_finite) << s;
    ASSERT_TRUE(a.peak_rss_bytes.has_value());
    EXPECT_GT(*a.peak_rss_bytes, 0u);
    ASSERT_TRUE(a.init_ms.has_value());
    EXPECT_EQ(a.isolation, Isolation::kProcess);
    ASSERT_TRUE(log->succeeded.has_value());
  }
}

TEST(LoadChain, OffloadLoadsWithTheLayersThatFit) {
  auto log = run_load_chain(testing::stories_model(), quick("offload"));
  ASSERT_TRUE(log) << log.error().message;
  const Attempt& a = log->attempts[0];
  EXPECT_EQ(a.outcome, Outcome::kOk) << a.reason;
  EXPECT_TRUE(a.warmup.passed);
  if (!log->accelerator.present) {
    // Without an accelerator no layer is offloaded: the whole model is on the host.
    EXPECT_EQ(a.placement.n_gpu_layers, 0);
    EXPECT_EQ(a.projected_device.total(), 0u);
  }
}

TEST(LoadChain, QuantizedStrategiesRecordTypesAndFallbacks) {
  auto log = run_load_chain(testing::stories_model(), quick("quantize:q4"));
  ASSERT_TRUE(log) << log.error().message;
  const Attempt& a = log->attempts[0];
  ASSERT_EQ(a.outcome, Outcome::kOk) << a.reason;
  EXPECT_EQ(a.recipe, "mixed");
  EXPECT_EQ(a.placement.load_mode, "quantize-stream");
  auto has_type = [&](const std::string& t) {
    return std::any_of(a.placement.tensor_types.begin(), a.placement.tensor_types.end(),
                       [&](const TypeCount& c) { return c.type == t; });
  };
  // Width 64 is no multiple of 256: q4_K falls back to q4_0, q6_K to q8_0, recorded.
  EXPECT_TRUE(has_type("q4_0"));
  EXPECT_FALSE(has_type("q4_K"));
  ASSERT_FALSE(a.placement.fallbacks.empty());
  EXPECT_NE(a.placement.fallbacks[0].fallback_reason.find("block size"), std::string::npos);
}

TEST(LoadChain, NativeGreedyOutputEqualsLlamaCpp) {
  LoadOptions o = quick("native");
  o.n_ctx = 2048;
  o.warmup.prompt = "Once upon a time";
  o.warmup.n_predict = 16;
  auto log = run_load_chain(testing::stories_model(), o);
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_EQ(log->attempts[0].outcome, Outcome::kOk) << log->attempts[0].reason;
  const std::string ours = log->attempts[0].warmup.generation;

  // llama-simple, not llama-completion: the latter writes its output from a log thread and now
  // and then exits before that thread has written anything. llama-simple decodes greedily and
  // prints the prompt's pieces (the BOS as "<s>") and then each new token.
  testing::CommandResult ref =
      testing::run_command({testing::llama_tool("llama-simple"), "-m", testing::stories_model(),
                            "-n", "16", "Once upon a time"});
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  std::string theirs = ref.out;
  if (theirs.starts_with("<s>")) theirs.erase(0, 3);
  while (!theirs.empty() && (theirs.back() == '\n' || theirs.back() == ' ')) theirs.pop_back();
  while (!theirs.empty() && theirs.front() == ' ') theirs.erase(0, 1);
  EXPECT_EQ("Once upon a time" + ours, theirs);
  EXPECT_NE(ours.find("Lily"), std::string::npos) << ours;
}

TEST(LoadChain, InProcessIsolationLoadsEveryStrategyInTurn) {
  for (const char* s : {"quantize:q4", "native", "quantize:q8"}) {
    LoadOptions o = quick(s);
    o.isolation = Isolation::kNone;
    auto log = run_load_chain(testing::stories_model(), o);
    ASSERT_TRUE(log) << log.error().message;
    EXPECT_EQ(log->attempts[0].outcome, Outcome::kOk) << s << ": " << log->attempts[0].reason;
    EXPECT_EQ(log->attempts[0].isolation, Isolation::kNone);
  }
}

TEST(LoadChain, CrashingWorkerIsSurvivedAndRecorded) {
  ::setenv("CLINBENCH_TEST_CRASH", "native=segv", 1);
  auto log = run_load_chain(testing::stories_model(), quick("auto"));
  ::unsetenv("CLINBENCH_TEST_CRASH");
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_GE(log->attempts.size(), 2u);
  const Attempt& crashed = log->attempts[0];
  EXPECT_EQ(crashed.strategy, Strategy::kNative);
  EXPECT_EQ(crashed.outcome, Outcome::kCrashed);
  ASSERT_TRUE(crashed.signal.has_value());
  EXPECT_EQ(*crashed.signal, SIGSEGV);
  EXPECT_NE(crashed.reason.find("SIGSEGV"), std::string::npos) << crashed.reason;
  // The chain went on and the next strategy loaded.
  ASSERT_TRUE(log->succeeded.has_value());
  EXPECT_EQ(log->attempts[*log->succeeded].strategy, Strategy::kQuantizeQ8);

  ::setenv("CLINBENCH_TEST_CRASH", "quantize:q8=abort", 1);
  auto log2 = run_load_chain(testing::stories_model(), quick("quantize:q8"));
  ::unsetenv("CLINBENCH_TEST_CRASH");
  ASSERT_TRUE(log2);
  EXPECT_EQ(log2->attempts[0].outcome, Outcome::kCrashed);
  EXPECT_EQ(log2->attempts[0].signal.value_or(0), SIGABRT);
  EXPECT_FALSE(log2->succeeded.has_value());
}

// A float model too big for the host budget, small enough once quantized.
class FallbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ =
        testing::synthetic_model("llama", "f32",
                                 {"--layers", "4", "--embd", "512", "--ff", "1536", "--heads", "8",
                                  "--kv-heads", "4", "--ctx", "512", "--vocab", "llama-spm"});
  }
  std::string model_;
};

TEST_F(FallbackTest, AutoSkipsWhatDoesNotFitAndSucceedsQuantized) {
  auto info = read_model_info(model_, {.hash = false});
  ASSERT_TRUE(info);
  ASSERT_GT(info->weight_bytes, 100ull << 20);  // ~ 170 MiB of f32 weights
  PlanOptions po;
  po.n_ctx = 512;
  auto plan = plan_model(*info, po);
  ASSERT_TRUE(plan);
  // Room for the 4-bit model, not for the 8-bit or the float one.
  const uint64_t budget = find_plan(*plan, Strategy::kQuantizeQ4)->host.total() + (8ull << 20);
  ASSERT_LT(budget, find_plan(*plan, Strategy::kQuantizeQ8)->host.total());
  LoadOptions o = quick("auto");
  o.host_budget = budget;
  auto log = run_load_chain(model_, o);
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_TRUE(log->succeeded.has_value()) << format_attempt_log(*log);
  const Attempt& ok = log->attempts[*log->succeeded];
  EXPECT_EQ(ok.strategy, Strategy::kQuantizeQ4);
  EXPECT_EQ(log->attempts[1].strategy, Strategy::kQuantizeQ8);
  EXPECT_EQ(log->attempts[1].outcome, Outcome::kSkipped);
  EXPECT_EQ(log->attempts[0].strategy, Strategy::kNative);
  EXPECT_EQ(log->attempts[0].outcome, Outcome::kSkipped);
  EXPECT_NE(log->attempts[0].reason.find("exceeds the available"), std::string::npos);
  EXPECT_GT(log->attempts[0].projected_host.total(), o.host_budget.value());
  // The winner really ran under the limit (AddressSanitizer's shadow memory adds to RSS).
  ASSERT_TRUE(ok.peak_rss_bytes.has_value());
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(*ok.peak_rss_bytes, *o.host_budget);
#endif
}

// parallel = "auto": each sequence adds its KV (n_ctx cells) to the plan; the widest that fits
// the budget is taken and the log says what bounded it; a fixed number that does not fit is an
// error before anything loads, naming the most that fit.
TEST_F(FallbackTest, ParallelAutoTakesTheWidestThatFitsAndSaysWhy) {
  auto info = read_model_info(model_, {.hash = false});
  ASSERT_TRUE(info);
  PlanOptions po;
  po.n_ctx = 512;
  auto one = plan_model(*info, po);
  ASSERT_TRUE(one);
  const StrategyPlan* native = find_plan(*one, Strategy::kNative);
  const uint64_t kv = native->host.kv;
  ASSERT_GT(kv, 0u);
  const uint64_t budget = native->host.total() + 10 * kv + kv / 2;  // room for 10 more

  LoadOptions o = quick("native");
  o.n_seq = 0;
  o.max_seq = 200;
  o.host_budget = budget;
  auto log = run_load_chain(model_, o);
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_TRUE(log->succeeded.has_value()) << format_attempt_log(*log);
  EXPECT_EQ(log->n_seq_bound, "host memory");
  // Each sequence adds its KV, beside the headroom auto leaves; compute buffers grow a little
  // with the sequences, so it may take one or two fewer.
  const uint64_t most = 1 + (budget - width_headroom(budget) - native->host.total()) / kv;
  ASSERT_GE(most, 3u);
  EXPECT_LE(log->n_seq, most);
  EXPECT_GE(log->n_seq + 2, most);
  const Attempt& ok = log->attempts[*log->succeeded];
  EXPECT_EQ(ok.projected_host.kv, kv * log->n_seq);
  ASSERT_TRUE(ok.allocated_host.has_value());
  EXPECT_EQ(ok.allocated_host->kv, ok.projected_host.kv);  // plan and allocation agree
  EXPECT_LE(ok.projected_host.total(), budget - width_headroom(budget));
  EXPECT_NE(
      format_attempt_log(*log).find(fmt::format("512 x {} sequences (host memory)", log->n_seq)),
      std::string::npos);

  // Fewer items than would fit: one sequence each.
  o.max_seq = 3;
  log = run_load_chain(model_, o);
  ASSERT_TRUE(log) << log.error().message;
  EXPECT_EQ(log->n_seq, 3u);
  EXPECT_EQ(log->n_seq_bound, "items");

  // A fixed width that does not fit.
  o.n_seq = 64;
  log = run_load_chain(model_, o);
  ASSERT_FALSE(log);
  EXPECT_NE(log.error().message.find("parallel = 64 does not fit"), std::string::npos)
      << log.error().message;
  EXPECT_NE(log.error().message.find("the most that fit the host memory budget: 11"),
            std::string::npos)
      << log.error().message;
}

// A run's items size the sequences: each gets what the neediest item needs (its prompt in the
// template plus its reply budget), not the whole ctx, so the same memory holds more of them.
TEST(LoadChain, CellsSizedFromTheItemsLetMoreSequencesFit) {
  const std::string model =
      testing::synthetic_model("llama", "f32",
                               {"--layers", "2", "--embd", "256", "--ff", "512", "--heads", "4",
                                "--kv-heads", "2", "--ctx", "4096", "--vocab", "llama-spm"});
  auto info = read_model_info(model, {.hash = false});
  ASSERT_TRUE(info);
  PlanOptions po;
  po.n_ctx = 2048;
  auto whole = plan_model(*info, po);
  ASSERT_TRUE(whole);
  const StrategyPlan* native = find_plan(*whole, Strategy::kNative);
  const uint64_t kv = native->host.kv;  // one sequence of 2048 cells
  // Room for about 5 more sequences of 2048 cells beside auto's headroom (8 MiB here).
  const uint64_t budget = native->host.total() + (8ull << 20) + 5 * kv + kv / 2;

  CellsProbe probe;
  probe.conversations.push_back({{{"system", "Be brief."}, {"user", "Which drug? A or B"}}, 1});
  probe.conversations.push_back({{{"user", "Short."}}, 2});
  probe.max_tokens = 40;
  po.cells = probe;
  auto sized = plan_model(*info, po);
  ASSERT_TRUE(sized);
  // The longest: the first conversation's prompt (+10%) and 40, or the second's and 2 x 40.
  EXPECT_GT(sized->n_ctx_items, 80u + 8u);
  EXPECT_LT(sized->n_ctx_items, 256u);
  EXPECT_EQ(sized->n_ctx, 256u);
  EXPECT_EQ(find_plan(*sized, Strategy::kNative)->host.kv * 8, kv);  // 256 of 2048 cells

  LoadOptions o = quick("native");
  o.n_ctx = 2048;
  o.n_seq = 0;
  o.max_seq = 200;
  o.host_budget = budget;
  auto wide_ctx = run_load_chain(model, o);
  ASSERT_TRUE(wide_ctx) << wide_ctx.error().message;
  o.cells = probe;
  auto log = run_load_chain(model, o);
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_TRUE(log->succeeded.has_value()) << format_attempt_log(*log);
  EXPECT_EQ(log->n_ctx, 256u);
  EXPECT_EQ(log->n_ctx_items, sized->n_ctx_items);
  ASSERT_GE(wide_ctx->n_seq, 3u);
  EXPECT_GE(log->n_seq, 4 * wide_ctx->n_seq) << wide_ctx->n_seq;
  const Attempt& ok = log->attempts[*log->succeeded];
  ASSERT_TRUE(ok.allocated_host.has_value());
  EXPECT_EQ(ok.allocated_host->kv, ok.projected_host.kv);  // plan and allocation agree
  EXPECT_NE(format_attempt_log(*log).find("the items need"), std::string::npos);
}

TEST_F(FallbackTest, AnAttemptOverTheBudgetFailsForReal) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's shadow memory rules out an address-space limit";
#endif
  LoadOptions o = quick("native");
  o.host_budget = 160ull << 20;
  o.skip_over_budget = false;  // attempt it anyway: the address-space limit must stop it
  auto log = run_load_chain(model_, o);
  ASSERT_TRUE(log) << log.error().message;
  const Attempt& a = log->attempts[0];
  EXPECT_TRUE(a.outcome == Outcome::kFailed || a.outcome == Outcome::kCrashed) << a.reason;
  EXPECT_FALSE(log->succeeded.has_value());
}

// With an accelerator the budget is held by watching the worker's resident memory (GPU drivers
// reserve far more address space than they use); forced here on the CPU.
TEST_F(FallbackTest, ResidentLimitStopsAWorkerOverTheBudget) {
  auto info = read_model_info(model_, {.hash = false});
  ASSERT_TRUE(info);
  PlanOptions po;
  po.n_ctx = 512;
  auto plan = plan_model(*info, po);
  ASSERT_TRUE(plan);
  // Half of the q8 weights, which the worker must hold in anonymous memory (the planned compute
  // buffers are reserved, not all touched).
  const uint64_t budget = find_plan(*plan, Strategy::kQuantizeQ8)->host.weights / 2;

  LoadOptions o = quick("quantize:q8");
  o.host_budget = budget;
  o.skip_over_budget = false;
  o.host_limit = HostLimit::kResident;
  auto log = run_load_chain(model_, o);
  ASSERT_TRUE(log) << log.error().message;
  const Attempt& a = log->attempts[0];
  EXPECT_EQ(a.outcome, Outcome::kFailed) << a.reason;
  EXPECT_NE(a.reason.find("over the host budget of " + format_bytes(budget)), std::string::npos)
      << a.reason;
  EXPECT_EQ(a.host_limit, "resident");
  EXPECT_FALSE(log->succeeded.has_value());

#if !defined(__SANITIZE_ADDRESS__)  // ASan's shadow and quarantine add to resident memory
  o.host_budget = find_plan(*plan, Strategy::kQuantizeQ8)->host.total() + (64ull << 20);
  log = run_load_chain(model_, o);
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_TRUE(log->succeeded.has_value()) << format_attempt_log(*log);
  EXPECT_EQ(log->attempts[0].host_limit, "resident");
#endif
}

TEST(LoadChain, AttemptLogJsonRoundTrips) {
  auto log = run_load_chain(testing::stories_model(), quick("quantize:q4"));
  ASSERT_TRUE(log);
  const nlohmann::json j = to_json(*log);
  EXPECT_EQ(j["format"], "clinbench.attempt_log/1");
  auto back = attempt_log_from_json(j);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(to_json(*back), j);
  nlohmann::json bad = j;
  bad["attempts"][0]["outcome"] = "maybe";
  EXPECT_FALSE(attempt_log_from_json(bad));
  bad = j;
  bad["format"] = "other/2";
  EXPECT_FALSE(attempt_log_from_json(bad));
}

TEST(LoadChain, WarmupFailureOnNaNWeightsFailsTheAttempt) {
  // A model whose output norm is NaN produces non-finite logits.
  testing::ScratchDir dir;
  std::string bytes = testing::read_file(testing::stories_model());
  auto info = read_model_info(testing::stories_model(), {.hash = false});
  ASSERT_TRUE(info);
  for (const auto& t : info->tensors) {
    if (t.name == "output_norm.weight") {
      const float nan = std::nanf("");
      for (uint64_t k = 0; k < t.bytes; k += 4) std::memcpy(bytes.data() + t.offset + k, &nan, 4);
    }
  }
  const std::string path = dir.file("nan.gguf");
  testing::write_file(path, bytes);
  auto log = run_load_chain(path, quick("native"));
  ASSERT_TRUE(log) << log.error().message;
  const Attempt& a = log->attempts[0];
  EXPECT_EQ(a.outcome, Outcome::kFailed);
  EXPECT_NE(a.reason.find("warm-up"), std::string::npos) << a.reason;
  EXPECT_NE(a.reason.find("non-finite"), std::string::npos) << a.reason;

  LoadOptions lenient = quick("native");
  lenient.warmup.required = false;
  auto log2 = run_load_chain(path, lenient);
  ASSERT_TRUE(log2);
  EXPECT_EQ(log2->attempts[0].outcome, Outcome::kOk);
  EXPECT_FALSE(log2->attempts[0].warmup.passed);
}

}  // namespace
}  // namespace clinbench

namespace clinbench {
namespace {

// The plan of stories260K at 4 sequences of 512 cells, per-sequence or pooled KV.
const StrategyPlan& native_plan(bool unified, uint32_t n_seq, uint32_t n_ctx, Plan& keep) {
  auto info = read_model_info(testing::stories_model(), {.hash = false});
  EXPECT_TRUE(info);
  PlanOptions po;
  po.n_ctx = n_ctx;
  po.n_seq = n_seq;
  po.kv_unified = unified;
  auto plan = plan_model(*info, po);
  EXPECT_TRUE(plan);
  keep = std::move(*plan);
  return *find_plan(keep, Strategy::kNative);
}

// kv: a layout asked for is the one created, and its plan is its allocation; auto measures both
// on the loaded model, keeps the faster (split unless unified is more than 3% faster), plans the
// wider of the two buffers and allocates the chosen one's. The log says which, how, and the rates.
TEST(LoadChain, KvLayoutIsAsRequestedOrMeasuredAndRecorded) {
  Plan split_plan, unified_plan;
  const StrategyPlan& split = native_plan(false, 4, 512, split_plan);
  const StrategyPlan& unified = native_plan(true, 4, 512, unified_plan);
  EXPECT_EQ(split.host.kv, unified.host.kv);            // the same cells, laid out differently
  ASSERT_LT(split.host.compute, unified.host.compute);  // attention spans the pool

  LoadOptions o = quick("native");
  o.n_seq = 4;
  for (KvLayout kv : {KvLayout::kSplit, KvLayout::kUnified}) {
    o.kv = kv;
    auto log = run_load_chain(testing::stories_model(), o);
    ASSERT_TRUE(log) << log.error().message;
    ASSERT_TRUE(log->succeeded) << format_attempt_log(*log);
    EXPECT_EQ(log->kv, to_string(kv));
    const Attempt& a = log->attempts[*log->succeeded];
    EXPECT_EQ(a.kv.layout, to_string(kv));
    EXPECT_EQ(a.kv.chosen_by, "requested");
    EXPECT_FALSE(a.kv.split_tok_s || a.kv.unified_tok_s);
    const StrategyPlan& want = kv == KvLayout::kSplit ? split : unified;
    ASSERT_TRUE(a.allocated_host);
    testing::expect_same_bytes(a.projected_host, want.host, to_string(kv));
    EXPECT_EQ(a.allocated_host->kv, a.projected_host.kv) << to_string(kv);
    EXPECT_EQ(a.allocated_host->compute, a.projected_host.compute) << to_string(kv);
    EXPECT_NE(format_attempt_log(*log).find(fmt::format("KV {} (requested)", to_string(kv))),
              std::string::npos)
        << format_attempt_log(*log);
  }

  o.kv = KvLayout::kAuto;
  auto log = run_load_chain(testing::stories_model(), o);
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_TRUE(log->succeeded) << format_attempt_log(*log);
  const Attempt& a = log->attempts[*log->succeeded];
  EXPECT_EQ(a.kv.chosen_by, "measured");
  EXPECT_EQ(a.kv.note, "");
  ASSERT_TRUE(a.kv.split_tok_s && a.kv.unified_tok_s);
  EXPECT_GT(*a.kv.split_tok_s, 0);
  EXPECT_GT(*a.kv.unified_tok_s, 0);
  EXPECT_EQ(a.kv.layout, *a.kv.unified_tok_s > *a.kv.split_tok_s * 1.03 ? "unified" : "split");
  EXPECT_EQ(a.kv.depth, 256);  // half a sequence's cells
  EXPECT_EQ(a.kv.steps, 8);
  // Unified timed in full, or stopped after 3 steps because it could not win.
  EXPECT_GE(a.kv.unified_steps, 3);
  EXPECT_LE(a.kv.unified_steps, 8);
  if (a.kv.unified_steps < 8) {
    EXPECT_EQ(a.kv.layout, "split");
  }
  EXPECT_GT(a.kv.probe_ms, 0);
  // Planned for both (one context at a time), allocated for the one kept.
  EXPECT_EQ(a.projected_host.compute, unified.host.compute);
  const StrategyPlan& kept = a.kv.layout == "split" ? split : unified;
  ASSERT_TRUE(a.allocated_host);
  EXPECT_EQ(a.allocated_host->kv, kept.host.kv);
  EXPECT_EQ(a.allocated_host->compute, kept.host.compute);
  EXPECT_NE(format_attempt_log(*log).find(fmt::format("KV {} (measured: split ", a.kv.layout)),
            std::string::npos)
      << format_attempt_log(*log);
  // The log reads back as written.
  auto back = attempt_log_from_json(to_json(*log));
  ASSERT_TRUE(back) << back.error().message;
  const KvChoice& k = back->attempts[*back->succeeded].kv;
  EXPECT_EQ(back->kv, "auto");
  EXPECT_EQ(k.layout, a.kv.layout);
  EXPECT_EQ(k.chosen_by, "measured");
  EXPECT_EQ(k.split_tok_s, a.kv.split_tok_s);
  EXPECT_EQ(k.unified_tok_s, a.kv.unified_tok_s);
  EXPECT_EQ(k.depth, 256);

  // One sequence: nothing to choose.
  o.n_seq = 1;
  log = run_load_chain(testing::stories_model(), o);
  ASSERT_TRUE(log && log->succeeded);
  EXPECT_EQ(log->attempts[*log->succeeded].kv.chosen_by, "one sequence");
  EXPECT_FALSE(log->attempts[*log->succeeded].kv.split_tok_s);
}

// auto where the pool's wider compute buffers would not fit the budget: split without measuring,
// and the attempt says why.
// The KV layout cache the workers of this test process use (tests/main.cpp sets the directory).
std::string kv_layout_cache_file() {
  const char* dir = std::getenv("CLINBENCH_CACHE_DIR");
  return dir == nullptr ? std::string() : std::string(dir) + "/kv-layout.json";
}

TEST(LoadChain, AutoKvKeepsSplitWhenUnifiedDoesNotFit) {
  Plan split_plan, unified_plan;
  const StrategyPlan& split = native_plan(false, 32, 1280, split_plan);
  const StrategyPlan& unified = native_plan(true, 32, 1280, unified_plan);
  ASSERT_GT(unified.host.compute, split.host.compute + (24ull << 20));
  LoadOptions o = quick("native");
  o.n_ctx = 1280;
  o.n_seq = 32;
  o.host_budget = split.host.total() + (12ull << 20);
  auto log = run_load_chain(testing::stories_model(), o);
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_TRUE(log->succeeded) << format_attempt_log(*log);
  const Attempt& a = log->attempts[*log->succeeded];
  EXPECT_EQ(a.kv.layout, "split");
  EXPECT_EQ(a.kv.chosen_by, "budget");
  EXPECT_NE(a.kv.note.find("unified KV's compute buffers"), std::string::npos) << a.kv.note;
  EXPECT_NE(a.kv.note.find("exceeds the available"), std::string::npos) << a.kv.note;
  EXPECT_FALSE(a.kv.split_tok_s || a.kv.unified_tok_s);
  testing::expect_same_bytes(a.projected_host, split.host, "split only");
  ASSERT_TRUE(a.allocated_host);
  EXPECT_EQ(a.allocated_host->compute, split.host.compute);
  // Nothing was measured, so nothing is kept for later runs.
  const auto cache = kv_layout_cache_file();
  ASSERT_FALSE(cache.empty());
  if (std::filesystem::exists(cache)) {
    for (const auto& e : nlohmann::json::parse(testing::read_file(cache))["entries"]) {
      EXPECT_FALSE(e["key"]["n_seq"] == 32 && e["key"]["n_ctx"] == 1280) << e;
    }
  }
}

// auto keeps what it measured for later attempts of the same shape on this machine (the KV layout
// cache, model/kv_layout_cache.h): a second run takes the layout and rates from the cache instead
// of timing them, another width measures anew, the cache decides (an entry edited to unified
// makes the context unified), and a cache that cannot be read or written is named in the note
// while the layout is measured as without one.
TEST(LoadChain, AutoKvTakesTheLayoutMeasuredEarlierForTheSameShape) {
  testing::ScratchDir dir;
  const char* before = std::getenv("CLINBENCH_CACHE_DIR");
  const std::string saved = before ? before : "";
  setenv("CLINBENCH_CACHE_DIR", dir.path().c_str(), 1);  // the workers inherit it
  const std::string file = dir.file("kv-layout.json");
  LoadOptions o = quick("native");
  o.n_seq = 4;
  o.kv = KvLayout::kAuto;
  auto load = [&] {
    auto log = run_load_chain(testing::stories_model(), o);
    EXPECT_TRUE(log) << log.error().message;
    EXPECT_TRUE(log && log->succeeded) << (log ? format_attempt_log(*log) : "");
    return log && log->succeeded ? log->attempts[*log->succeeded] : Attempt{};
  };

  const Attempt first = load();
  EXPECT_EQ(first.kv.chosen_by, "measured");
  EXPECT_FALSE(first.kv.cached);
  EXPECT_EQ(first.kv.note, "");
  EXPECT_EQ(first.kv.measured_at.size(), 20u) << first.kv.measured_at;  // 2026-12-06T19:00:00Z
  ASSERT_TRUE(first.kv.split_tok_s && first.kv.unified_tok_s);
  nlohmann::json cache = nlohmann::json::parse(testing::read_file(file));
  ASSERT_EQ(cache["entries"].size(), 1u) << cache;
  EXPECT_EQ(cache["entries"][0]["key"]["n_seq"], 4);
  EXPECT_EQ(cache["entries"][0]["layout"], first.kv.layout);

  const Attempt second = load();
  EXPECT_EQ(second.kv.chosen_by, "measured");
  EXPECT_TRUE(second.kv.cached);
  EXPECT_EQ(second.kv.layout, first.kv.layout);
  EXPECT_EQ(second.kv.split_tok_s, first.kv.split_tok_s);
  EXPECT_EQ(second.kv.unified_tok_s, first.kv.unified_tok_s);
  EXPECT_EQ(second.kv.measured_at, first.kv.measured_at);
  EXPECT_EQ(second.kv.depth, first.kv.depth);
  EXPECT_EQ(second.kv.steps, first.kv.steps);
  EXPECT_EQ(second.kv.note, "");

  o.n_seq = 3;  // another shape
  const Attempt third = load();
  EXPECT_FALSE(third.kv.cached);
  ASSERT_TRUE(third.kv.split_tok_s);
  EXPECT_EQ(nlohmann::json::parse(testing::read_file(file))["entries"].size(), 2u);

  // The cache decides: the 4-sequence entry edited to unified gives a unified context.
  Plan unified_plan;
  const StrategyPlan& unified = native_plan(true, 4, 512, unified_plan);
  cache = nlohmann::json::parse(testing::read_file(file));
  for (auto& e : cache["entries"]) {
    if (e["key"]["n_seq"] == 4) e["layout"] = "unified";
  }
  testing::write_file(file, cache.dump());
  o.n_seq = 4;
  const Attempt edited = load();
  EXPECT_TRUE(edited.kv.cached);
  EXPECT_EQ(edited.kv.layout, "unified");
  ASSERT_TRUE(edited.allocated_host);
  EXPECT_EQ(edited.allocated_host->compute, unified.host.compute);

  // A file that is not a cache: measured again, said so, and replaced.
  testing::write_file(file, "{ not json");
  const Attempt corrupt = load();
  EXPECT_FALSE(corrupt.kv.cached);
  ASSERT_TRUE(corrupt.kv.split_tok_s && corrupt.kv.unified_tok_s);
  EXPECT_NE(corrupt.kv.note.find(file + " is not a KV layout cache"), std::string::npos)
      << corrupt.kv.note;
  EXPECT_NE(corrupt.kv.note.find("measured again"), std::string::npos) << corrupt.kv.note;
  EXPECT_EQ(nlohmann::json::parse(testing::read_file(file))["entries"].size(), 1u);

  // A cache directory that cannot be created: measured, and the note says it was not kept.
  testing::write_file(dir.file("plain"), "a file");
  setenv("CLINBENCH_CACHE_DIR", (dir.file("plain") + "/cache").c_str(), 1);
  const Attempt unwritable = load();
  EXPECT_FALSE(unwritable.kv.cached);
  ASSERT_TRUE(unwritable.kv.split_tok_s && unwritable.kv.unified_tok_s);
  EXPECT_NE(unwritable.kv.note.find("not kept for later runs"), std::string::npos)
      << unwritable.kv.note;

  setenv("CLINBENCH_CACHE_DIR", saved.c_str(), 1);
}

}  // namespace
}  // namespace clinbench
