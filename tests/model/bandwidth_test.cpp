// Memory bandwidth and the decode ceiling it sets (clinbench/bandwidth.h, `inspect --bandwidth`).
#include "clinbench/bandwidth.h"

#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"

namespace clinbench {
namespace {

TensorInfo tensor(const std::string& name, uint64_t bytes) {
  TensorInfo t;
  t.name = name;
  t.bytes = bytes;
  return t;
}

TEST(DecodeCeiling, AStepReadsEveryWeightButTheEmbeddingRowsItDoesNotLookUp) {
  ModelInfo m;
  m.tensors = {tensor("token_embd.weight", 1000), tensor("blk.0.attn_q.weight", 200),
               tensor("blk.0.ffn_up.weight", 300), tensor("output.weight", 1000)};
  EXPECT_EQ(decode_weight_bytes(m), 1500u);
  // Tied: the output head is the embedding, read whole.
  m.tensors.pop_back();
  EXPECT_EQ(decode_weight_bytes(m), 1500u);
  m.tensors.push_back(tensor("output_norm.weight", 8));
  EXPECT_EQ(decode_weight_bytes(m), 1508u);
}

TEST(DecodeCeiling, IsBandwidthOverTheBytesOfAStepTimesTheSequences) {
  // 1 GB/s, 100 MB of weights: 10 steps/s alone.
  EXPECT_DOUBLE_EQ(roofline_tokens_per_s(1e9, 100'000'000, 0, 1, 0), 10.0);
  // 8 sequences share the weights' read: 8 tokens a step.
  EXPECT_DOUBLE_EQ(roofline_tokens_per_s(1e9, 100'000'000, 0, 8, 512), 80.0);
  // Each sequence's KV is read too: 8 x 1000 cells x 12.5 KB = 100 MB more, half the steps.
  EXPECT_DOUBLE_EQ(roofline_tokens_per_s(1e9, 100'000'000, 12'500, 8, 1000), 40.0);
  // Wider batches gain less as the KV grows.
  const double at32 = roofline_tokens_per_s(1e9, 100'000'000, 12'500, 32, 1000);
  EXPECT_GT(at32, 40.0);
  EXPECT_LT(at32, 80.0);
  EXPECT_EQ(roofline_tokens_per_s(0, 100, 1, 1, 1), 0.0);
  EXPECT_EQ(roofline_tokens_per_s(1e9, 100, 1, 0, 1), 0.0);
  EXPECT_EQ(roofline_tokens_per_s(1e9, 0, 0, 1, 0), 0.0);
}

TEST(DecodeCeiling, KvBytesPerCellAreThePlansOverItsCells) {
  Plan plan;
  plan.n_ctx = 512;
  plan.n_seq = 4;
  EXPECT_EQ(kv_bytes_per_cell(plan), 0u);  // no native strategy
  StrategyPlan native;
  native.strategy = Strategy::kNative;
  native.host.kv = 2048ull * 1000;
  native.device.kv = 2048ull * 24;
  plan.strategies.push_back(native);
  EXPECT_EQ(kv_bytes_per_cell(plan), 1024u);
}

TEST(DecodeCeiling, JsonAndTextCarryEachDeviceAndEachWidth) {
  Roofline r;
  Bandwidth cpu;
  cpu.device = "CPU";
  cpu.threads = 2;
  cpu.bytes = 1 << 20;
  cpu.bytes_per_s = {2e9, 4e9, 3e9};
  r.devices = {cpu};
  r.weight_bytes = 100'000'000;
  r.kv_bytes_per_cell = 0;
  r.depth = 512;
  r.n_seqs = {1, 8};
  EXPECT_DOUBLE_EQ(cpu.best(), 4e9);
  EXPECT_DOUBLE_EQ(cpu.median(), 3e9);
  const auto j = to_json(r);
  ASSERT_EQ(j.at("devices").size(), 1u);
  const auto& d = j.at("devices")[0];
  EXPECT_EQ(d.at("device"), "CPU");
  EXPECT_DOUBLE_EQ(d.at("best_bytes_per_s").get<double>(), 4e9);
  ASSERT_EQ(d.at("decode_ceiling").size(), 2u);
  EXPECT_DOUBLE_EQ(d.at("decode_ceiling")[1].at("tokens_per_s").get<double>(), 320.0);
  const std::string text = format_roofline(r);
  EXPECT_NE(text.find("CPU (2 threads)"), std::string::npos) << text;
  EXPECT_NE(text.find("4.0 GB/s"), std::string::npos) << text;
  EXPECT_NE(text.find("320.0"), std::string::npos) << text;
}

TEST(MeasureBandwidth, ReadsTheWholeMatrixOnTheCpuEachRun) {
  auto b = measure_bandwidth({.threads = 1, .bytes = 16ull << 20, .reps = 3});
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->device, "CPU");
  EXPECT_EQ(b->threads, 1);
  EXPECT_EQ(b->bytes, 16ull << 20);
  ASSERT_EQ(b->bytes_per_s.size(), 3u);
  for (double r : b->bytes_per_s) {
    EXPECT_TRUE(std::isfinite(r));
    // Between a floppy disk and the fastest memory made: a number, not a unit slip.
    EXPECT_GT(r, 1e6);
    EXPECT_LT(r, 1e13);
  }
  EXPECT_LE(b->median(), b->best());
}

TEST(MeasureBandwidth, SaysWhatIsWrongWithItsOptions) {
  auto small = measure_bandwidth({.bytes = 4096});
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(small.error().message.find("at least 1 MiB"), std::string::npos);
  auto reps = measure_bandwidth({.bytes = 1ull << 20, .reps = 0});
  ASSERT_FALSE(reps);
  EXPECT_NE(reps.error().message.find("timed runs"), std::string::npos);
  // More than the host can hold: said before anything is touched.
  auto huge = measure_bandwidth({.bytes = 1ull << 50});
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code, ErrorCode::kResource);
  EXPECT_NE(huge.error().message.find("bandwidth on CPU: a 1024.00 TiB matrix is more than half"),
            std::string::npos)
      << huge.error().message;
  // This test process has no GPU and no RPC server.
  auto acc = measure_bandwidth({.accelerator = true, .bytes = 1ull << 20});
  if (!acc) {
    EXPECT_NE(acc.error().message.find("no accelerator"), std::string::npos);
  }
}

TEST(RooflineCli, InspectMeasuresTheCpuAndShowsTheCeilingForTheModel) {
  const std::string model = testing::synthetic_model("llama", "q8_0");
  auto r = testing::run_command({testing::clinbench_binary(), "inspect", model, "--no-hash",
                                 "--json", "--ctx", "512", "--bandwidth", "--threads", "1",
                                 "--bandwidth-size", "8MiB", "--depth", "100", "--parallel", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& roof = j.at("roofline");
  EXPECT_EQ(roof.at("depth"), 100);
  EXPECT_GT(roof.at("weight_bytes").get<uint64_t>(), 0u);
  EXPECT_LE(roof.at("weight_bytes").get<uint64_t>(), j.at("weight_bytes").get<uint64_t>());
  // The plan's KV over its cells (512 x 3).
  const auto& native = j.at("plan").at("strategies")[0];
  EXPECT_EQ(roof.at("kv_bytes_per_cell").get<uint64_t>(),
            native.at("host").at("kv").get<uint64_t>() / (512 * 3));
  ASSERT_EQ(roof.at("devices").size(), 1u);
  const auto& cpu = roof.at("devices")[0];
  EXPECT_EQ(cpu.at("device"), "CPU");
  EXPECT_EQ(cpu.at("threads"), 1);
  EXPECT_EQ(cpu.at("bytes"), 8u << 20);
  std::vector<int> widths;
  double last = 0;
  for (const auto& c : cpu.at("decode_ceiling")) {
    widths.push_back(c.at("n_seq").get<int>());
    EXPECT_GT(c.at("tokens_per_s").get<double>(), last);  // batching raises the ceiling
    last = c.at("tokens_per_s").get<double>();
  }
  EXPECT_EQ(widths, (std::vector<int>{1, 3, 8, 32}));

  auto text = testing::run_command({testing::clinbench_binary(), "inspect", model, "--no-hash",
                                    "--bandwidth", "--bandwidth-size", "8MiB"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("Memory bandwidth"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("Decode ceiling"), std::string::npos) << text.out;
}

TEST(RooflineCli, ABadBandwidthFlagIsNamed) {
  const std::string model = testing::synthetic_model("llama", "q8_0");
  for (const std::string size : {"4KiB", "lots"}) {
    auto r = testing::run_command({testing::clinbench_binary(), "inspect", model, "--no-hash",
                                   "--bandwidth", "--bandwidth-size", size});
    EXPECT_EQ(r.exit_code, 2) << size << ": " << r.err;
    EXPECT_NE(r.err.find("--bandwidth-size"), std::string::npos) << r.err;
  }
  auto depth = testing::run_command(
      {testing::clinbench_binary(), "inspect", model, "--bandwidth", "--depth", "-1"});
  EXPECT_EQ(depth.exit_code, 2) << depth.err;
  EXPECT_NE(depth.err.find("--depth"), std::string::npos) << depth.err;
  // --threads, of inspect's measurement and of run's models: a count of threads or an error.
  for (const std::string threads : {"-1", "many", "2000"}) {
    auto i = testing::run_command(
        {testing::clinbench_binary(), "inspect", model, "--bandwidth", "--threads", threads});
    EXPECT_EQ(i.exit_code, 2) << threads << ": " << i.err;
    EXPECT_NE(i.err.find("--threads"), std::string::npos) << i.err;
    auto r = testing::run_command({testing::clinbench_binary(), "run", "--model", model,
                                   "--dataset", "d.jsonl", "--threads", threads});
    EXPECT_EQ(r.exit_code, 2) << threads << ": " << r.err;
    EXPECT_NE(r.err.find("--threads"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace clinbench
