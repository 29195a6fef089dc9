// Synthetic models of several architectures load and generate; a sparse 8B-shaped file plans.
#include "clinbench/synth.h"

#include <gtest/gtest.h>

#include "clinbench/load.h"
#include "clinbench/model_info.h"
#include "clinbench/plan.h"
#include "test_util.h"

namespace clinbench {
namespace {

TEST(Synth, ArchitecturesLoadAndGenerate) {
  for (const char* arch : {"llama", "qwen2", "gemma2", "mistral"}) {
    const std::string path = testing::synthetic_model(arch, "f16");
    auto info = read_model_info(path, {.hash = false});
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->n_layer, 2u) << arch;
    EXPECT_TRUE(info->has_chat_template) << arch;
    EXPECT_GT(info->n_vocab, 30000u) << arch;
    LoadOptions o;
    o.strategy = "auto";
    o.hash = false;
    o.n_ctx = 256;
    auto log = run_load_chain(path, o);
    ASSERT_TRUE(log) << log.error().message;
    ASSERT_TRUE(log->succeeded.has_value()) << arch << "\n" << format_attempt_log(*log);
    const Attempt& a = log->attempts[*log->succeeded];
    EXPECT_EQ(a.strategy, Strategy::kNative) << arch;
    EXPECT_FALSE(a.warmup.generated_tokens.empty()) << arch;
    EXPECT_TRUE(a.warmup.chat_template_ok) << arch;
  }
}

TEST(Synth, QuantizedTypesAndQuantizeStrategies) {
  const std::string q8 = testing::synthetic_model("llama", "q8_0");
  auto info = read_model_info(q8, {.hash = false});
  ASSERT_TRUE(info);
  EXPECT_EQ(info->dominant_type, "q8_0");
  LoadOptions o;
  o.strategy = "quantize:q4";
  o.hash = false;
  o.n_ctx = 256;
  auto log = run_load_chain(q8, o);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->attempts[0].outcome, Outcome::kSkipped);
  EXPECT_NE(log->attempts[0].reason.find("already quantized"), std::string::npos);

  const std::string f16 = testing::synthetic_model("qwen2", "f16");
  o.strategy = "quantize:q4";
  auto log2 = run_load_chain(f16, o);
  ASSERT_TRUE(log2);
  ASSERT_EQ(log2->attempts[0].outcome, Outcome::kOk) << log2->attempts[0].reason;
  // Width 128 does not fit q4_K's 256 block; every matrix fell back with a recorded reason.
  EXPECT_FALSE(log2->attempts[0].placement.fallbacks.empty());
}

TEST(Synth, SparseEightBillionShapePlansFromMetadata) {
  testing::ScratchDir dir;
  SynthOptions so;
  for (const auto& p : synth_presets()) {
    if (p.name == "llama3-8b") so.shape = p.shape;
  }
  so.sparse = true;
  auto r = write_synthetic_model(so, dir.file("l8b.gguf"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_NEAR(static_cast<double>(r->n_params), 8.03e9, 0.01e9);
  auto info = read_model_info(dir.file("l8b.gguf"), {.hash = false});
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->n_vocab, 128256u);
  PlanOptions po;
  po.n_ctx = 4096;
  auto plan = plan_model(*info, po);
  ASSERT_TRUE(plan) << plan.error().message;
  const StrategyPlan* native = find_plan(*plan, Strategy::kNative);
  const StrategyPlan* q4 = find_plan(*plan, Strategy::kQuantizeQ4);
  ASSERT_TRUE(native && q4);
  EXPECT_NEAR(static_cast<double>(native->weight_bytes), 16.06e9, 0.05e9);
  // Llama-3-8B's KV cache at 4096 tokens in f16: 32 layers x 2 x 4096 x 1024 x 2 bytes.
  EXPECT_EQ(native->host.kv + native->device.kv, 32ull * 2 * 4096 * 1024 * 2);
  EXPECT_LT(q4->weight_bytes, native->weight_bytes / 3);
  EXPECT_GT(q4->weight_bytes, native->weight_bytes / 5);
}

TEST(Synth, BadOptionsNameTheOption) {
  testing::ScratchDir dir;
  SynthOptions so;
  so.shape.arch = "gpt5";
  auto r = write_synthetic_model(so, dir.file("x.gguf"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("--arch"), std::string::npos);
  so.shape.arch = "llama";
  so.type = "q3";
  r = write_synthetic_model(so, dir.file("x.gguf"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("--type"), std::string::npos);
  so.type = "q4_K";
  so.shape.n_embd = 96;  // rows of 96 are no multiple of 256
  so.shape.n_head = 4;
  r = write_synthetic_model(so, dir.file("x.gguf"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("block size"), std::string::npos);
  so.type = "f16";
  so.shape.n_head = 5;
  so.shape.n_head_kv = 2;
  r = write_synthetic_model(so, dir.file("x.gguf"));
  ASSERT_FALSE(r);
}

// --chat-template names a file that must exist and hold a template.
TEST(Synth, ChatTemplateFileThatCannotBeReadIsAUsageError) {
  testing::ScratchDir dir;
  testing::write_file(dir.file("empty.jinja"), "");
  for (const std::string& bad :
       std::vector<std::string>{dir.file("missing.jinja"), dir.file("empty.jinja"), dir.path()}) {
    auto r = testing::run_command({testing::clinbench_binary(), "synth", "--preset", "llama-tiny",
                                   "--chat-template", bad, "-o", dir.file("x.gguf")});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find("--chat-template: cannot read '" + bad + "'"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace clinbench
