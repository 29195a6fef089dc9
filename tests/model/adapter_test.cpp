// LoRA adapters: synth writes them in llama.cpp's format (llama.cpp itself loads them), and an
// adapter is checked against its base before use, with errors that name the file and the
// mismatch.
#include "clinbench/adapter.h"

#include <ggml.h>
#include <gguf.h>
#include <gtest/gtest.h>
#include <llama-cpp.h>
#include <llama.h>

#include <array>
#include <limits>

#include "clinbench/load.h"
#include "clinbench/model_info.h"
#include "clinbench/synth.h"
#include "test_util.h"

namespace clinbench {
namespace {

std::string write_lora(const std::string& base, const std::string& path, uint32_t rank = 4,
                       uint64_t seed = 42, std::vector<std::string> targets = {}) {
  LoraSynthOptions o;
  o.base = base;
  o.rank = rank;
  o.seed = seed;
  o.targets = std::move(targets);
  auto r = write_synthetic_lora(o, path);
  EXPECT_TRUE(r) << r.error().message;
  return path;
}

ModelInfo base_info(const std::string& path) {
  auto info = read_model_info(path, {.hash = false});
  EXPECT_TRUE(info) << info.error().message;
  return info ? *info : ModelInfo{};
}

TEST(SynthLora, WritesLlamaCppsFormatDeterministically) {
  testing::ScratchDir dir;
  const std::string a = write_lora(testing::stories_model(), dir.file("a.gguf"), 4, 7);
  const std::string b = write_lora(testing::stories_model(), dir.file("b.gguf"), 4, 7);
  const std::string c = write_lora(testing::stories_model(), dir.file("c.gguf"), 4, 8);
  EXPECT_EQ(testing::read_file(a), testing::read_file(b));
  EXPECT_NE(testing::read_file(a), testing::read_file(c));

  ggml_context* meta = nullptr;
  gguf_context* g = gguf_init_from_file(a.c_str(), {true, &meta});
  ASSERT_NE(g, nullptr);
  EXPECT_STREQ(gguf_get_val_str(g, gguf_find_key(g, "general.type")), "adapter");
  EXPECT_STREQ(gguf_get_val_str(g, gguf_find_key(g, "adapter.type")), "lora");
  EXPECT_STREQ(gguf_get_val_str(g, gguf_find_key(g, "general.architecture")), "llama");
  EXPECT_FLOAT_EQ(gguf_get_val_f32(g, gguf_find_key(g, "adapter.lora.alpha")), 4.0f);
  // stories260K: 5 blocks of 64 wide, ffn 172; 7 projections each, two halves.
  EXPECT_EQ(gguf_get_n_tensors(g), 5 * 7 * 2);
  const ggml_tensor* qa = ggml_get_tensor(meta, "blk.0.attn_q.weight.lora_a");
  const ggml_tensor* db = ggml_get_tensor(meta, "blk.4.ffn_down.weight.lora_b");
  ASSERT_TRUE(qa && db);
  EXPECT_EQ(qa->ne[0], 64);
  EXPECT_EQ(qa->ne[1], 4);
  EXPECT_EQ(db->ne[0], 4);
  EXPECT_EQ(db->ne[1], 64);
  gguf_free(g);
  ggml_free(meta);

  // llama.cpp's own loader takes it on the model it was written for.
  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  llama_model_ptr model(llama_model_load_from_file(testing::stories_model().c_str(), mp));
  ASSERT_TRUE(model);
  llama_adapter_lora* lora = llama_adapter_lora_init(model.get(), a.c_str());
  ASSERT_NE(lora, nullptr);
  char buf[64];
  ASSERT_GT(llama_adapter_meta_val_str(lora, "adapter.type", buf, sizeof buf), 0);
  EXPECT_STREQ(buf, "lora");
  llama_adapter_lora_free(lora);
}

TEST(SynthLora, BadOptionsNameTheOption) {
  testing::ScratchDir dir;
  LoraSynthOptions o;
  o.base = testing::stories_model();
  o.rank = 0;
  auto r = write_synthetic_lora(o, dir.file("x.gguf"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("--rank"), std::string::npos) << r.error().message;
  o.rank = 4;
  o.type = "q4_0";
  r = write_synthetic_lora(o, dir.file("x.gguf"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("--type"), std::string::npos) << r.error().message;
  o.type = "f32";
  o.targets = {"nothing_like_this"};
  r = write_synthetic_lora(o, dir.file("x.gguf"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("nothing_like_this"), std::string::npos) << r.error().message;
  o.targets = {};
  o.base = dir.file("missing.gguf");
  r = write_synthetic_lora(o, dir.file("x.gguf"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("--lora-for"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("missing.gguf"), std::string::npos) << r.error().message;
  // An adapter is no base for another adapter.
  o.base = write_lora(testing::stories_model(), dir.file("a.gguf"));
  r = write_synthetic_lora(o, dir.file("x.gguf"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("is an adapter"), std::string::npos) << r.error().message;
}

TEST(SynthLora, CliWritesAnAdapterAndRejectsLoraFlagsWithoutABase) {
  testing::ScratchDir dir;
  const auto ok = testing::run_command({testing::clinbench_binary(), "synth", "--lora-for",
                                        testing::stories_model(), "--rank", "2", "--type", "f16",
                                        "--target", "attn_q", "-o", dir.file("a.gguf")});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  auto info = check_adapter({dir.file("a.gguf"), 1.0f}, base_info(testing::stories_model()));
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->rank, 2u);
  EXPECT_EQ(info->targets.size(), 5u);                 // attn_q of 5 blocks
  EXPECT_EQ(info->bytes, 5u * 2 * (64 * 2 + 2 * 64));  // f16 halves
  const auto bad = testing::run_command(
      {testing::clinbench_binary(), "synth", "--rank", "2", "-o", dir.file("b.gguf")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--rank needs --lora-for"), std::string::npos) << bad.err;
}

TEST(AdapterCheck, ReadsWhatTheAdapterHolds) {
  testing::ScratchDir dir;
  const std::string path = write_lora(testing::stories_model(), dir.file("a.gguf"), 8);
  auto info = check_adapter({path, 0.5f}, base_info(testing::stories_model()));
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->path, path);
  EXPECT_EQ(info->scale, 0.5f);
  EXPECT_EQ(info->rank, 8u);
  EXPECT_EQ(info->alpha, 8.0f);
  EXPECT_EQ(info->architecture, "llama");
  EXPECT_EQ(info->targets.size(), 35u);
  EXPECT_EQ(info->targets.front(), "blk.0.attn_q.weight");
  EXPECT_EQ(info->sha256.size(), 64u);
  // Per block: q and o (64 -> 64), k and v (64 -> 32: 4 kv heads of 8), gate and up (64 -> 172),
  // down (172 -> 64); rank 8, f32.
  const uint64_t per_block =
      2 * (64 * 8 + 8 * 64) + 2 * (64 * 8 + 8 * 32) + 2 * (64 * 8 + 8 * 172) + (172 * 8 + 8 * 64);
  EXPECT_EQ(info->bytes, 5 * per_block * 4);
}

TEST(AdapterCheck, ParsesFileAndScale) {
  auto s = parse_adapter_spec("a/b.gguf:0.5", "--lora");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->path, "a/b.gguf");
  EXPECT_EQ(s->scale, 0.5f);
  s = parse_adapter_spec("a/b.gguf", "--lora");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->path, "a/b.gguf");
  EXPECT_EQ(s->scale, 1.0f);
  EXPECT_EQ(to_string(AdapterSpec{"x.gguf", 2.0f}), "x.gguf:2");
  for (const char* bad : {"", ":0.5", "x.gguf:1.5x", "x.gguf:nan", "x.gguf:inf"}) {
    auto e = parse_adapter_spec(bad, "--lora");
    ASSERT_FALSE(e) << bad;
    EXPECT_NE(e.error().message.find("--lora"), std::string::npos) << e.error().message;
  }
}

// Every bad adapter is refused before use, naming the adapter file and the mismatch.
TEST(AdapterCheck, RefusesAdaptersThatDoNotFitTheBase) {
  testing::ScratchDir dir;
  const ModelInfo stories = base_info(testing::stories_model());
  auto expect_refused = [&](const std::string& path, const ModelInfo& base,
                            const std::string& needle) {
    auto r = check_adapter({path, 1.0f}, base, {.hash = false});
    ASSERT_FALSE(r) << path;
    EXPECT_NE(r.error().message.find(path), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  };
  // Another architecture.
  const std::string qwen = testing::synthetic_model("qwen2", "f16");
  expect_refused(write_lora(qwen, dir.file("qwen.gguf")), stories, "architecture 'qwen2'");
  // Another width: a llama of 128 wide on stories' 64.
  const std::string llama = testing::synthetic_model("llama", "f16");
  expect_refused(write_lora(llama, dir.file("wide.gguf")), stories, "does not fit");
  // A tensor the base lacks: output.weight of the synthetic llama on gemma2's tied head is
  // another architecture; a 6-block adapter on a 5-block base is not.
  const std::string deep =
      testing::synthetic_model("llama", "f32",
                               {"--layers", "6", "--embd", "64", "--ff", "172", "--heads", "8",
                                "--kv-heads", "8", "--vocab", "llama-spm", "--ctx", "256"});
  expect_refused(write_lora(deep, dir.file("deep.gguf"), 4, 42, {"attn_q"}), stories,
                 "'blk.5.attn_q.weight' is not a tensor of the base model");
  // A model is not an adapter.
  expect_refused(testing::stories_model(), stories, "general.type is '', not 'adapter'");
  // Missing, truncated and corrupt files.
  expect_refused(dir.file("none.gguf"), stories, "adapter");
  const std::string good = write_lora(testing::stories_model(), dir.file("good.gguf"));
  const std::string bytes = testing::read_file(good);
  testing::write_file(dir.file("cut.gguf"), bytes.substr(0, bytes.size() - 100));
  expect_refused(dir.file("cut.gguf"), stories, "adapter");
  testing::write_file(dir.file("junk.gguf"), std::string(4096, 'x'));
  expect_refused(dir.file("junk.gguf"), stories, "adapter");
  // A scale that is not finite.
  auto r = check_adapter({good, std::numeric_limits<float>::infinity()}, stories);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not finite"), std::string::npos) << r.error().message;
}

// Files a converter could write wrong: an unpaired half, a pair whose ranks differ, another
// adapter.type, tensors of no LoRA.
TEST(AdapterCheck, RefusesMalformedPairs) {
  testing::ScratchDir dir;
  const ModelInfo stories = base_info(testing::stories_model());
  struct Case {
    const char* name;
    std::vector<std::pair<std::string, std::array<int64_t, 2>>> tensors;
    std::string adapter_type;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {"unpaired", {{"blk.0.attn_q.weight.lora_a", {64, 4}}}, "lora", "has a lora_a but no lora_b"},
      {"ranks",
       {{"blk.0.attn_q.weight.lora_a", {64, 4}}, {"blk.0.attn_q.weight.lora_b", {8, 64}}},
       "lora",
       "ranks differ"},
      {"type",
       {{"blk.0.attn_q.weight.lora_a", {64, 4}}, {"blk.0.attn_q.weight.lora_b", {4, 64}}},
       "control_vector",
       "adapter.type is 'control_vector', not 'lora'"},
      {"stray", {{"blk.0.attn_q.weight", {64, 64}}}, "lora", "neither a .lora_a nor a .lora_b"},
      {"empty", {}, "lora", "no lora_a/lora_b tensors"},
  };
  for (const auto& c : cases) {
    gguf_context* g = gguf_init_empty();
    gguf_set_val_str(g, "general.architecture", "llama");
    gguf_set_val_str(g, "general.type", "adapter");
    gguf_set_val_str(g, "adapter.type", c.adapter_type.c_str());
    ggml_init_params ip{1 << 20, nullptr, false};
    ggml_context* ctx = ggml_init(ip);
    for (const auto& [name, ne] : c.tensors) {
      ggml_tensor* t = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, ne[0], ne[1]);
      ggml_set_name(t, name.c_str());
      gguf_add_tensor(g, t);
    }
    const std::string path = dir.file(std::string(c.name) + ".gguf");
    ASSERT_TRUE(gguf_write_to_file(g, path.c_str(), /*only_meta=*/false));
    gguf_free(g);
    ggml_free(ctx);
    auto r = check_adapter({path, 1.0f}, stories, {.hash = false});
    ASSERT_FALSE(r) << c.name;
    EXPECT_NE(r.error().message.find(path), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace clinbench

namespace clinbench {
namespace {

LoadOptions adapter_load_options(const std::string& strategy, std::vector<AdapterSpec> adapters) {
  LoadOptions o;
  o.strategy = strategy;
  o.n_ctx = 256;
  o.adapters = std::move(adapters);
  return o;
}

// The plan counts the adapter's tensors as weights on the side of their base tensors (the host,
// without an accelerator), and llama.cpp allocates exactly that, for every strategy: quantize:*
// quantize the base only.
TEST(AdapterLoad, PlanEqualsWhatEachStrategyAllocatedWithAnAdapter) {
  testing::ScratchDir dir;
  const std::string lora = write_lora(testing::stories_model(), dir.file("a.gguf"), 8);
  for (const char* s : {"native", "quantize:q8", "quantize:q4", "cpu"}) {
    auto base = run_load_chain(testing::stories_model(), adapter_load_options(s, {}));
    auto with = run_load_chain(testing::stories_model(), adapter_load_options(s, {{lora, 1.0f}}));
    ASSERT_TRUE(base && with) << (base ? with.error().message : base.error().message);
    ASSERT_TRUE(base->succeeded && with->succeeded) << s << "\n" << format_attempt_log(*with);
    const Attempt& b = base->attempts[*base->succeeded];
    const Attempt& a = with->attempts[*with->succeeded];
    ASSERT_TRUE(a.allocated_host && b.allocated_host) << s;
    // f32 adapter tensors of rank 8 (see AdapterCheck) in 35 pairs, each aligned to 32 bytes.
    ASSERT_EQ(with->adapters.size(), 1u);
    const uint64_t adapter_bytes = a.projected_host.weights - b.projected_host.weights;
    EXPECT_GE(adapter_bytes, with->adapters[0].bytes) << s;
    EXPECT_LE(adapter_bytes, with->adapters[0].bytes + 70 * 64) << s;
    EXPECT_EQ(a.allocated_host->weights - b.allocated_host->weights, adapter_bytes) << s;
    if (a.placement.load_mode != "mmap") {
      EXPECT_EQ(a.allocated_host->weights, a.projected_host.weights) << s;
    }
    EXPECT_EQ(a.allocated_host->kv, a.projected_host.kv) << s;
    // The compute buffers reserved with the adapter's products are the base's.
    EXPECT_EQ(a.allocated_host->compute, a.projected_host.compute) << s;
    EXPECT_EQ(a.projected_host.compute, b.projected_host.compute) << s;
    // The adapter changed the greedy output's logits; the base's types are the strategy's.
    ASSERT_EQ(a.warmup.adapter_logit_delta.size(), 1u) << s;
    EXPECT_GT(a.warmup.adapter_logit_delta[0], kAdapterMinLogitDelta) << s;
    EXPECT_TRUE(a.warmup.passed) << s;
    EXPECT_EQ(a.placement.tensor_types.front().type, b.placement.tensor_types.front().type) << s;
  }
}

// The attempt log names each adapter with what it holds, through JSON and back.
TEST(AdapterLoad, AttemptLogRecordsEachAdapter) {
  testing::ScratchDir dir;
  const std::string a = write_lora(testing::stories_model(), dir.file("a.gguf"), 4);
  const std::string b =
      write_lora(testing::stories_model(), dir.file("b.gguf"), 2, 9, {"ffn_up", "ffn_down"});
  auto log = run_load_chain(testing::stories_model(),
                            adapter_load_options("native", {{a, 1.0f}, {b, 0.5f}}));
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_TRUE(log->succeeded) << format_attempt_log(*log);
  auto back = attempt_log_from_json(to_json(*log));
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->adapters.size(), 2u);
  EXPECT_EQ(back->adapters[0].path, a);
  EXPECT_EQ(back->adapters[0].rank, 4u);
  EXPECT_EQ(back->adapters[0].sha256.size(), 64u);
  EXPECT_EQ(back->adapters[1].scale, 0.5f);
  EXPECT_EQ(back->adapters[1].alpha, 2.0f);
  EXPECT_EQ(back->adapters[1].targets.size(), 10u);
  EXPECT_GT(back->adapters[1].bytes, 0u);
  EXPECT_EQ(back->attempts[*back->succeeded].warmup.adapter_logit_delta.size(), 2u);
}

// An adapter that changes nothing fails the warm-up: a zero lora_b, or a scale of 0.
TEST(AdapterLoad, WarmupFailsAnAdapterThatChangesNothing) {
  testing::ScratchDir dir;
  LoraSynthOptions zo;
  zo.base = testing::stories_model();
  zo.zero = true;
  ASSERT_TRUE(write_synthetic_lora(zo, dir.file("zero.gguf")));
  const std::string good = write_lora(testing::stories_model(), dir.file("good.gguf"));
  for (const AdapterSpec& spec : {AdapterSpec{dir.file("zero.gguf"), 1.0f}, {good, 0.0f}}) {
    auto log = run_load_chain(testing::stories_model(), adapter_load_options("native", {spec}));
    ASSERT_TRUE(log) << log.error().message;
    EXPECT_FALSE(log->succeeded) << format_attempt_log(*log);
    const Attempt& a = log->attempts[0];
    EXPECT_EQ(a.outcome, Outcome::kFailed);
    bool named = false;
    for (const auto& f : a.warmup.failures) {
      named = named || (f.find(spec.path) != std::string::npos &&
                        f.find("changes no logit") != std::string::npos);
    }
    EXPECT_TRUE(named) << format_attempt_log(*log);
  }
}

// A bad adapter is an error of the request, before any attempt: it names the adapter.
TEST(AdapterLoad, BadAdapterStopsTheChainBeforeAnyAttempt) {
  testing::ScratchDir dir;
  const std::string wide = write_lora(testing::synthetic_model("llama", "f16"), dir.file("w.gguf"));
  auto log = run_load_chain(testing::stories_model(), adapter_load_options("auto", {{wide, 1.0f}}));
  ASSERT_FALSE(log);
  EXPECT_NE(log.error().message.find(wide), std::string::npos) << log.error().message;
  EXPECT_NE(log.error().message.find("does not fit"), std::string::npos) << log.error().message;
}

}  // namespace
}  // namespace clinbench
