// Fidelity of LoRA adapters on the real stories260K model: what an adapter changes against its
// base (more at a larger scale, nothing at scale 0 or with a zero adapter), the adapter against
// the adapter on a quantized base, the adapters recorded in fidelity.json, and bad adapters
// refused before anything is measured.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "clinbench/dataset.h"
#include "clinbench/fidelity.h"
#include "clinbench/hash.h"
#include "clinbench/synth.h"
#include "test_util.h"

namespace clinbench {
namespace {

std::string data(const std::string& name) {
  return std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/datasets/" + name;
}

std::vector<Item> valset_items() {
  auto ds = read_dataset(data("curebench_valset.jsonl"));
  EXPECT_TRUE(ds) << ds.error().message;
  return ds ? ds->items : std::vector<Item>{};
}

FidelityOptions small_options() {
  FidelityOptions o;
  o.trace_tokens = 16;
  o.n_ctx = 1024;
  o.n_threads = 1;
  return o;
}

std::string write_lora(const std::string& path, bool zero = false, uint32_t rank = 4) {
  LoraSynthOptions o;
  o.base = testing::stories_model();
  o.rank = rank;
  o.zero = zero;
  auto r = write_synthetic_lora(o, path);
  EXPECT_TRUE(r) << r.error().message;
  return path;
}

FidelityModel candidate(const std::string& text) {
  auto m = parse_candidate(text, testing::stories_model());
  EXPECT_TRUE(m) << m.error().message;
  return m ? *m : FidelityModel{};
}

double max_answer_kl(const CandidateResult& c) {
  double m = 0;
  for (const auto& it : c.items) m = std::max(m, it.answer_kl);
  return m;
}

TEST(FidelityAdapter, AdapterAgainstItsBaseGrowsWithTheScaleAndScaleZeroChangesNothing) {
  testing::ScratchDir dir;
  const std::string lora = write_lora(dir.file("a.gguf"));
  const std::string zero = write_lora(dir.file("zero.gguf"), /*zero=*/true);
  const FidelityModel ref{"reference", testing::stories_model(), Strategy::kNative, ""};
  auto rep = run_fidelity(ref,
                          {candidate("lora=" + lora + ":0.5"), candidate("lora=" + lora + ":2"),
                           candidate("lora=" + lora + ":0"), candidate("lora=" + zero)},
                          valset_items(), "valset", small_options());
  ASSERT_TRUE(rep) << rep.error().message;
  ASSERT_EQ(rep->candidates.size(), 4u);
  const CandidateResult& half = rep->candidates[0];
  const CandidateResult& twice = rep->candidates[1];
  ASSERT_EQ(half.items.size(), 4u);
  // The adapter moves the answer distributions and the reasoning, more at a larger scale.
  EXPECT_GT(max_answer_kl(half), 0.0);
  EXPECT_GT(half.trace_kl_mean, 0.0);
  EXPECT_GT(twice.kl_mean, half.kl_mean);
  EXPECT_GT(twice.trace_kl_mean, half.trace_kl_mean);
  // At scale 0, and with lora_b all zero, the candidate is the base: exactly nothing changes.
  for (size_t c : {2u, 3u}) {
    SCOPED_TRACE(rep->candidates[c].model.label);
    for (const auto& it : rep->candidates[c].items) {
      EXPECT_EQ(it.answer_kl, 0.0) << it.id;
      EXPECT_EQ(it.trace_kl_mean, 0.0) << it.id;
      EXPECT_TRUE(it.top1_agree) << it.id;
    }
    EXPECT_TRUE(rep->candidates[c].flipped.empty());
  }
  // Each candidate records its adapter, hashed; the base's weights are the reference's.
  ASSERT_EQ(half.use.adapters.size(), 1u);
  EXPECT_EQ(half.use.adapters[0].path, lora);
  EXPECT_EQ(half.use.adapters[0].scale, 0.5f);
  EXPECT_EQ(half.use.adapters[0].rank, 4u);
  EXPECT_EQ(half.use.adapters[0].sha256, *sha256_file(lora));
  EXPECT_EQ(half.use.adapter_bytes, half.use.adapters[0].bytes);
  EXPECT_GT(half.use.adapter_bytes, 0u);
  EXPECT_EQ(half.use.weight_bytes, rep->reference_use.weight_bytes);
  EXPECT_TRUE(rep->reference_use.adapters.empty());
  const nlohmann::json j = to_json(*rep);
  EXPECT_TRUE(j["reference"]["model"]["adapters"].empty());
  EXPECT_EQ(j["candidates"][1]["model"]["adapters"][0]["scale"], 2.0);
  EXPECT_EQ(j["candidates"][1]["model"]["adapters"][0]["sha256"], *sha256_file(lora));
  EXPECT_NE(format_fidelity(*rep).find("adapter on lora=" + lora + ":2: " + lora),
            std::string::npos)
      << format_fidelity(*rep);
}

// The QLoRA question through the CLI: the adapter on the full-precision base as the reference,
// the same adapter on quantized loads of the base as candidates.
TEST(FidelityAdapter, AdapterAgainstTheAdapterOnAQuantizedBaseThroughTheCli) {
  testing::ScratchDir dir;
  const std::string lora = write_lora(dir.file("a.gguf"));
  auto r = testing::run_command({testing::clinbench_binary(),
                                 "fidelity",
                                 "--reference",
                                 testing::stories_model(),
                                 "--reference-lora",
                                 lora,
                                 "--candidate",
                                 "lora=" + lora,
                                 "--candidate",
                                 "quantize:q8+lora=" + lora,
                                 "--candidate",
                                 "quantize:q4",
                                 "--dataset",
                                 data("curebench_valset.jsonl"),
                                 "--trace-tokens",
                                 "8",
                                 "--ctx",
                                 "1024",
                                 "--threads",
                                 "1",
                                 "--out",
                                 dir.file("fid")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("adapter on reference: " + lora), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(testing::read_file(dir.file("fid/fidelity.json")));
  const auto& ref = j["reference"]["model"];
  ASSERT_EQ(ref["adapters"].size(), 1u);
  EXPECT_EQ(ref["adapters"][0]["path"], lora);
  EXPECT_EQ(ref["adapters"][0]["sha256"], *sha256_file(lora));
  EXPECT_EQ(ref["adapters"][0]["scale"], 1.0);
  EXPECT_GT(j["reference"]["use"]["adapter_bytes"].get<uint64_t>(), 0u);
  const auto& c = j["candidates"];
  ASSERT_EQ(c.size(), 3u);
  // The same adapter on the same base: nothing changes.
  EXPECT_EQ(c[0]["summary"]["answer_kl_mean"].get<double>(), 0.0);
  EXPECT_EQ(c[0]["summary"]["trace_kl_mean"].get<double>(), 0.0);
  // On a q8 base: a change, smaller than dropping the adapter and quantizing to q4.
  const double q8 = c[1]["summary"]["trace_kl_mean"].get<double>();
  EXPECT_GT(q8, 0.0);
  EXPECT_LT(q8, c[2]["summary"]["trace_kl_mean"].get<double>());
  EXPECT_EQ(c[1]["model"]["strategy"], "quantize:q8");
  EXPECT_EQ(c[1]["model"]["adapters"][0]["path"], lora);
  // A candidate does not inherit the reference's adapter.
  EXPECT_TRUE(c[2]["model"]["adapters"].empty());
  for (const auto& cand : c) EXPECT_EQ(cand["items"].size(), j["items"]);
}

TEST(FidelityAdapter, BadAdaptersAreRefusedBeforeAnythingIsMeasured) {
  testing::ScratchDir dir;
  const std::string dataset = data("curebench_valset.jsonl");
  const std::string model = testing::stories_model();
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {testing::clinbench_binary(), "fidelity", "--reference", model,
                               "--dataset", dataset, "--trace-tokens", "4", "--threads", "1"});
    return testing::run_command(args);
  };
  // Missing, not an adapter (a model file), another architecture.
  auto r = run({"--candidate", "lora=" + dir.file("none.gguf")});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find(dir.file("none.gguf")), std::string::npos) << r.err;
  r = run({"--candidate", "quantize:q4+lora=" + model});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("general.type is '', not 'adapter'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("quantize:q4+lora=" + model), std::string::npos) << r.err;
  LoraSynthOptions qo;
  qo.base = testing::synthetic_model("qwen2", "f16");
  ASSERT_TRUE(write_synthetic_lora(qo, dir.file("qwen.gguf")));
  r = run({"--reference-lora", dir.file("qwen.gguf"), "--candidate", "quantize:q8"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(dir.file("qwen.gguf")), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("architecture 'qwen2'"), std::string::npos) << r.err;
  // The reference's pass never ran: nothing was measured or printed.
  EXPECT_EQ(r.out.find("KL mean"), std::string::npos) << r.out;
  // Malformed values.
  r = run({"--candidate", "quantize:q4+lora="});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("names no adapter file"), std::string::npos) << r.err;
  r = run({"--reference-lora", dir.file("a.gguf:x1"), "--candidate", "quantize:q8"});
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("a.gguf:x1"), std::string::npos) << r.err;
  r = testing::run_command({testing::clinbench_binary(), "fidelity", "--sensitivity", model,
                            "--reference-lora", dir.file("a.gguf"), "--dataset", dataset, "--out",
                            dir.file("s")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--reference-lora needs --reference"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace clinbench
