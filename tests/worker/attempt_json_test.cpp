// The worker's spec and the attempt log carry the device budget and what was
// held back to enforce it (the part of the GPU path that a machine without a
// GPU can check).
#include <gtest/gtest.h>

#include "clinbench/load.h"
#include "worker/protocol.h"

namespace clinbench {
namespace {

TEST(AttemptSpecJson, DeviceBudgetRoundTrips) {
  AttemptSpec s;
  s.model_path = "/models/m.gguf";
  s.strategy = Strategy::kOffload;
  s.n_gpu_layers = 17;
  s.device_budget = uint64_t{16} << 30;
  auto back = attempt_spec_from_json(to_json(s));
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_TRUE(back->device_budget.has_value());
  EXPECT_EQ(*back->device_budget, uint64_t{16} << 30);
  EXPECT_EQ(back->n_gpu_layers, 17);
  EXPECT_EQ(back->strategy, Strategy::kOffload);

  s.device_budget.reset();
  const auto j = to_json(s);
  EXPECT_TRUE(j.at("device_budget").is_null());
  back = attempt_spec_from_json(j);
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->device_budget.has_value());

  // A spec written before the field existed still reads.
  auto old = to_json(s);
  old.erase("device_budget");
  back = attempt_spec_from_json(old);
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->device_budget.has_value());
}

// The adapters cross the process boundary with their scales.
TEST(AttemptSpecJson, AdaptersRoundTrip) {
  AttemptSpec s;
  s.model_path = "/models/m.gguf";
  s.adapters = {{"/a/one.gguf", 1.0f}, {"/a/two.gguf", 0.25f}};
  auto back = attempt_spec_from_json(to_json(s));
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->adapters.size(), 2u);
  EXPECT_EQ(back->adapters[1].path, "/a/two.gguf");
  EXPECT_EQ(back->adapters[1].scale, 0.25f);
  auto bad = to_json(s);
  bad["adapters"][0]["scale"] = "x";
  EXPECT_FALSE(attempt_spec_from_json(bad));
}

TEST(AttemptSpecJson, KvLayoutRoundTripsAndABadOneIsRefused) {
  AttemptSpec s;
  s.model_path = "/models/m.gguf";
  s.n_seq = 8;
  s.kv = KvLayout::kSplit;
  s.kv_note = "unified KV's compute buffers would not fit";
  auto back = attempt_spec_from_json(to_json(s));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->kv, KvLayout::kSplit);
  EXPECT_EQ(back->kv_note, s.kv_note);
  auto j = to_json(s);
  j["kv"] = "pooled";
  auto bad = attempt_spec_from_json(j);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "worker spec: unknown KV layout 'pooled'");
}

TEST(AttemptLogJson, KvChoicePrintsAndRoundTrips) {
  AttemptLog log;
  log.model_path = "/m.gguf";
  log.n_seq = 8;
  log.kv = "auto";
  Attempt a;
  a.outcome = Outcome::kOk;
  a.kv.layout = "unified";
  a.kv.chosen_by = "measured";
  a.kv.split_tok_s = 100.0;
  a.kv.unified_tok_s = 120.5;
  a.kv.depth = 256;
  a.kv.steps = 8;
  a.kv.probe_ms = 900;
  log.attempts.push_back(a);
  log.succeeded = 0;
  EXPECT_NE(format_attempt_log(log).find("KV unified (measured: split 100.0 tok/s, unified 120.5 "
                                         "tok/s, 8 steps at depth 256)"),
            std::string::npos)
      << format_attempt_log(log);
  auto back = attempt_log_from_json(to_json(log));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->kv, "auto");
  const KvChoice& k = back->attempts[0].kv;
  EXPECT_EQ(k.layout, "unified");
  EXPECT_EQ(k.chosen_by, "measured");
  EXPECT_EQ(k.unified_tok_s, 120.5);
  EXPECT_EQ(k.steps, 8);
  EXPECT_EQ(k.probe_ms, 900);
  EXPECT_EQ(k.measured_at, "");
  EXPECT_FALSE(k.cached);
  // Taken from the KV layout cache: when it was measured, and that it was cached.
  log.attempts[0].kv.measured_at = "2026-12-06T19:00:00Z";
  log.attempts[0].kv.cached = true;
  EXPECT_NE(format_attempt_log(log).find("KV unified (measured 2026-12-06T19:00:00Z (cached): "
                                         "split 100.0 tok/s"),
            std::string::npos)
      << format_attempt_log(log);
  back = attempt_log_from_json(to_json(log));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->attempts[0].kv.measured_at, "2026-12-06T19:00:00Z");
  EXPECT_TRUE(back->attempts[0].kv.cached);
  // Split kept, unified's timing stopped early: said, and read back.
  log.attempts[0].kv.layout = "split";
  log.attempts[0].kv.unified_tok_s = 60.0;
  log.attempts[0].kv.unified_steps = 3;
  EXPECT_NE(format_attempt_log(log).find("unified 60.0 tok/s (slower: stopped after 3 steps), 8 "
                                         "steps at depth 256"),
            std::string::npos)
      << format_attempt_log(log);
  back = attempt_log_from_json(to_json(log));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->attempts[0].kv.unified_steps, 3);
  // Nothing created: null, and nothing printed.
  log.attempts[0].kv = {};
  EXPECT_TRUE(to_json(log)["attempts"][0]["kv"].is_null());
  EXPECT_EQ(format_attempt_log(log).find("KV "), std::string::npos);
}

AttemptLog budgeted_log() {
  AttemptLog log;
  log.model_path = "/models/m.gguf";
  log.architecture = "llama";
  log.requested = "auto";
  log.n_ctx = 4096;
  log.accelerator.present = true;
  log.accelerator.description = "CUDA0 (NVIDIA H200)";
  Attempt a;
  a.strategy = Strategy::kQuantizeQ4;
  a.recipe = "mixed";
  a.outcome = Outcome::kOk;
  a.available_device = uint64_t{7} << 30;
  a.device_withheld_bytes = uint64_t{130} << 30;
  a.peak_device_bytes = uint64_t{5} << 30;
  a.placement.n_gpu_layers = 32;
  a.placement.n_layers = 32;
  log.attempts.push_back(a);
  log.succeeded = 0;
  return log;
}

TEST(AttemptLogJson, WithheldDeviceMemoryRoundTripsAndPrints) {
  const AttemptLog log = budgeted_log();
  const auto j = to_json(log);
  EXPECT_EQ(j.at("attempts").at(0).at("device_withheld_bytes").get<uint64_t>(),
            uint64_t{130} << 30);
  auto back = attempt_log_from_json(j);
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_TRUE(back->attempts.at(0).device_withheld_bytes.has_value());
  EXPECT_EQ(*back->attempts.at(0).device_withheld_bytes, uint64_t{130} << 30);
  EXPECT_EQ(to_json(*back), j);

  const std::string text = format_attempt_log(log);
  EXPECT_NE(text.find("device budget: 130.00 GiB held back, peak device use 5.00 GiB"),
            std::string::npos)
      << text;
}

TEST(AttemptLogJson, BadBudgetFieldsAreErrorsNamingThem) {
  auto j = to_json(budgeted_log());
  j["attempts"][0]["device_withheld_bytes"] = "lots";
  auto r = attempt_log_from_json(j);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("'device_withheld_bytes'"), std::string::npos)
      << r.error().message;
  j = to_json(budgeted_log());
  j["attempts"][0]["host_limit"] = 7;
  r = attempt_log_from_json(j);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("'host_limit'"), std::string::npos) << r.error().message;
  // A worker spec whose budget is not a byte count is refused, not guessed.
  AttemptSpec s;
  s.model_path = "/m.gguf";
  auto spec = to_json(s);
  spec["device_budget"] = "16GiB";
  auto bad = attempt_spec_from_json(spec);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("worker spec"), std::string::npos) << bad.error().message;
}

TEST(AttemptLogJson, NoAcceleratorMeansNoWithheldField) {
  AttemptLog log = budgeted_log();
  log.accelerator = {};
  log.attempts[0].device_withheld_bytes.reset();
  log.attempts[0].peak_device_bytes.reset();
  const auto j = to_json(log);
  EXPECT_TRUE(j.at("attempts").at(0).at("device_withheld_bytes").is_null());
  EXPECT_EQ(format_attempt_log(log).find("held back"), std::string::npos);
}

}  // namespace
}  // namespace clinbench

namespace clinbench {
namespace {

// An item's own reply budget crosses to the worker; none stays none.
TEST(ItemWire, MaxTokensCrossesTheProcessBoundary) {
  Item item;
  item.id = "q1";
  item.question = "Q?";
  item.max_tokens = 37;
  auto back = item_from_wire(item_to_wire(item));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->max_tokens, 37);
  item.max_tokens.reset();
  back = item_from_wire(item_to_wire(item));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->max_tokens, std::nullopt);
}

}  // namespace
}  // namespace clinbench
