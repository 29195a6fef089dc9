// Fidelity on the real stories260K model (F32) and on synthetic models: the reference against
// itself, q8 against q4, sensitivity ranking and the recipe written from it, the CLI's three
// forms end to end.
#include "clinbench/fidelity.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "clinbench/dataset.h"
#include "clinbench/load.h"
#include "clinbench/select.h"
#include "test_util.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;

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
  o.trace_tokens = 24;
  o.n_ctx = 1024;
  o.n_threads = 1;  // a tiny model gains nothing from more, and shared CI cores lose a lot
  return o;
}

FidelityModel candidate(const std::string& text, const std::string& ref) {
  auto m = parse_candidate(text, ref);
  EXPECT_TRUE(m) << m.error().message;
  return *m;
}

TEST(Fidelity, ReferenceAgainstItselfIsZeroAndQ8IsCloserThanQ4) {
  const std::string ref_path = testing::stories_model();
  const FidelityModel ref{"reference", ref_path, Strategy::kNative, ""};
  const auto items = valset_items();
  auto rep = run_fidelity(ref,
                          {candidate(ref_path, ref_path), candidate("quantize:q8", ref_path),
                           candidate("quantize:q4", ref_path)},
                          items, "valset", small_options());
  ASSERT_TRUE(rep) << rep.error().message;
  // Four lettered items; the two open_ended ones are skipped with the reason.
  EXPECT_EQ(rep->items, 4u);
  ASSERT_EQ(rep->skipped.size(), 2u);
  EXPECT_NE(rep->skipped[0].reason.find("open_ended"), std::string::npos);
  ASSERT_EQ(rep->candidates.size(), 3u);

  const CandidateResult& self = rep->candidates[0];
  ASSERT_EQ(self.items.size(), 4u);
  for (const auto& it : self.items) {
    EXPECT_EQ(it.answer_kl, 0.0) << it.id;
    EXPECT_EQ(it.trace_kl_mean, 0.0) << it.id;
    EXPECT_EQ(it.trace_top1_rate, 1.0) << it.id;
    EXPECT_GT(it.trace_tokens, 0) << it.id;
    EXPECT_TRUE(it.top1_agree) << it.id;
    EXPECT_TRUE(it.prompt_tokens_match) << it.id;
    EXPECT_EQ(it.reference_probs, it.candidate_probs) << it.id;
  }
  EXPECT_EQ(self.kl_mean, 0.0);
  EXPECT_EQ(self.kl_p99, 0.0);
  EXPECT_TRUE(self.flipped.empty());
  EXPECT_EQ(self.mcnemar.only_a + self.mcnemar.only_b, 0u);
  EXPECT_EQ(self.mcnemar.p_value, 1.0);

  const CandidateResult& q8 = rep->candidates[1];
  const CandidateResult& q4 = rep->candidates[2];
  EXPECT_GT(q4.kl_mean, 0.0);
  EXPECT_LT(q8.kl_mean, q4.kl_mean);
  EXPECT_LT(q8.trace_kl_mean, q4.trace_kl_mean);
  EXPECT_GE(q4.kl_p99, q4.kl_median);
  EXPECT_LT(q4.use.weight_bytes, q8.use.weight_bytes);
  EXPECT_LT(q8.use.weight_bytes, self.use.weight_bytes);
  EXPECT_LT(q4.use.bits_per_weight, 8.0);
  EXPECT_GT(q8.use.eval_tokens, 0);
  EXPECT_GT(q8.use.eval_tokens_per_s, 0.0);
  EXPECT_GT(q8.use.decode_tokens, 0);
  ASSERT_TRUE(q8.use.peak_rss_bytes.has_value());
  EXPECT_GT(*q8.use.peak_rss_bytes, q8.use.weight_bytes);
  // Every labeled item is in the accuracy of both and in McNemar's pairs.
  EXPECT_EQ(q4.reference_accuracy.labeled, 4u);
  EXPECT_EQ(q4.mcnemar.pairs, 4u);
  EXPECT_NEAR(q4.flip_rate, static_cast<double>(q4.flipped.size()) / 4, 1e-12);
  for (const auto& it : q4.items) {
    double sum = 0;
    for (double p : it.candidate_probs) sum += p;
    EXPECT_NEAR(sum, 1.0, 1e-9) << it.id;
    EXPECT_EQ(it.top1_agree, it.reference_choice == it.candidate_choice);
  }

  const nlohmann::json j = to_json(*rep);
  EXPECT_EQ(j["format"], "clinbench.fidelity/1");
  EXPECT_EQ(j["candidates"][2]["model"]["strategy"], "quantize:q4");
  EXPECT_EQ(j["candidates"][2]["items"].size(), 4u);
  const std::string table = format_fidelity(*rep);
  EXPECT_NE(table.find("quantize:q4"), std::string::npos);
}

TEST(Fidelity, SensitivityIsDeterministicAndItsRecipeLoadsAndBeatsUniform) {
  const std::string ref_path = testing::stories_model();
  const FidelityModel ref{"reference", ref_path, Strategy::kNative, ""};
  auto items = valset_items();
  items.resize(2);  // two multi_choice items: each of ~35 loads measures them all
  testing::ScratchDir d1, d2;
  SensitivityOptions o;
  o.fidelity = small_options();
  o.fidelity.trace_tokens = 4;
  o.out_dir = d1.path();
  auto a = run_sensitivity(ref, items, "valset", o);
  ASSERT_TRUE(a) << a.error().message;
  o.out_dir = d2.path();
  auto b = run_sensitivity(ref, items, "valset", o);
  ASSERT_TRUE(b) << b.error().message;

  // stories260K: 5 blocks x (attn q, k, v, output, ffn) and the token embeddings.
  ASSERT_GE(a->ranking.size(), 26u);
  ASSERT_EQ(a->ranking.size(), b->ranking.size());
  for (size_t i = 0; i < a->ranking.size(); ++i) {
    EXPECT_EQ(a->ranking[i].group.name, b->ranking[i].group.name) << "rank " << i + 1;
    EXPECT_EQ(a->ranking[i].kl_mean, b->ranking[i].kl_mean) << "rank " << i + 1;
    if (i > 0) {
      EXPECT_GE(a->ranking[i - 1].kl_mean, a->ranking[i].kl_mean);
    }
  }
  EXPECT_GT(a->ranking.front().kl_mean, 0.0);

  // The recipe fits the target, and the uniform recipe it is compared with is the largest one
  // within the same budget.
  EXPECT_LE(a->chosen.weight_bytes, a->target_bytes);
  EXPECT_LE(a->uniform.weight_bytes, a->target_bytes);
  EXPECT_GE(a->measured.size(), 2u);
  EXPECT_TRUE(fs::exists(a->recipe_path));

  // The written recipe loads through the loading chain.
  LoadOptions lo;
  lo.strategy = "quantize:q4";
  lo.recipe = a->recipe_path;
  lo.hash = false;
  lo.n_ctx = 256;
  auto log = run_load_chain(ref_path, lo);
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_TRUE(log->succeeded.has_value()) << format_attempt_log(*log);
  uint64_t loaded = 0;
  for (const auto& t : log->attempts[*log->succeeded].placement.tensor_types) loaded += t.bytes;
  EXPECT_EQ(loaded, a->chosen.weight_bytes);

  // Measured again, on its own, against the uniform recipe of the same budget: no worse.
  auto again = run_fidelity(ref,
                            {candidate("quantize:q4@" + a->recipe_path, ref_path),
                             candidate("quantize:q4@" + a->uniform.path, ref_path)},
                            items, "valset", o.fidelity);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->candidates[0].kl_mean, a->chosen.kl_mean);
  EXPECT_LE(again->candidates[0].kl_mean, again->candidates[1].kl_mean);
  EXPECT_EQ(again->candidates[1].use.weight_bytes, a->uniform.weight_bytes);

  const nlohmann::json j = to_json(*a);
  EXPECT_EQ(j["format"], "clinbench.sensitivity/1");
  EXPECT_EQ(j["ranking"][0]["rank"], 1);
}

TEST(Fidelity, SensitivityRejectsTargetsNoRecipeMeets) {
  SensitivityOptions o;
  o.target_bpw = 1.0;  // below uniform q4
  testing::ScratchDir d;
  o.out_dir = d.path();
  auto r = run_sensitivity({"reference", testing::stories_model(), Strategy::kNative, ""},
                           valset_items(), "valset", o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("below the uniform q4_K"), std::string::npos)
      << r.error().message;
  o.target_bpw.reset();
  o.low_type = "q9_X";
  r = run_sensitivity({"reference", testing::stories_model(), Strategy::kNative, ""},
                      valset_items(), "valset", o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("--low: unknown tensor type 'q9_X'"), std::string::npos)
      << r.error().message;
}

TEST(Fidelity, TokenizerCheckOfOneFileAgainstItselfFindsNothing) {
  auto c = compare_tokenizers(testing::stories_model(), testing::stories_model(), valset_items(),
                              PromptConfig{});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->same());
  EXPECT_EQ(c->items_checked, 6u);
  EXPECT_EQ(c->n_vocab_a, 512);
}

// The CLI's three forms on synthetic models of two architectures.
TEST(Fidelity, CommandsRunEndToEndOnSyntheticModels) {
  const std::string dataset = data("curebench_valset.jsonl");
  for (const char* arch : {"llama", "qwen2"}) {
    SCOPED_TRACE(arch);
    const std::string f16 = testing::synthetic_model(arch, "f16");
    testing::ScratchDir dir;
    auto r = testing::run_command({testing::clinbench_binary(),
                                   "fidelity",
                                   "--reference",
                                   f16,
                                   "--candidate",
                                   "quantize:q8",
                                   "--candidate",
                                   "quantize:q4@uniform",
                                   "--dataset",
                                   dataset,
                                   "--limit",
                                   "3",
                                   "--trace-tokens",
                                   "4",
                                   "--ctx",
                                   "512",
                                   "--threads",
                                   "1",
                                   "--out",
                                   dir.file("fid")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("quantize:q4@uniform"), std::string::npos) << r.out;
    auto j = nlohmann::json::parse(testing::read_file(dir.file("fid/fidelity.json")));
    EXPECT_EQ(j["format"], "clinbench.fidelity/1");
    ASSERT_EQ(j["candidates"].size(), 2u);
    EXPECT_GT(j["candidates"][1]["summary"]["answer_kl_mean"].get<double>(), 0.0);

    r = testing::run_command({testing::clinbench_binary(), "fidelity", "--sensitivity", f16,
                              "--dataset", dataset, "--limit", "2", "--trace-tokens", "2", "--ctx",
                              "512", "--threads", "1", "--out", dir.file("sens")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto s = nlohmann::json::parse(testing::read_file(dir.file("sens/sensitivity.json")));
    // 2 blocks x (attn q, k, v, output, ffn), the embeddings and the output head.
    EXPECT_EQ(s["ranking"].size(), 12u);
    EXPECT_TRUE(fs::exists(dir.file("sens/recipe.txt")));

    const std::string q8 = testing::synthetic_model(arch, "q8_0");
    r = testing::run_command({testing::clinbench_binary(), "fidelity", "--tokenizer", f16, q8,
                              "--dataset", dataset, "--out", dir.file("tok")});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    auto t = nlohmann::json::parse(testing::read_file(dir.file("tok/tokenizer_check.json")));
    EXPECT_TRUE(t["same"].get<bool>());
  }
  // Two architectures' files: different vocabularies, listed, exit 1.
  auto r = testing::run_command({testing::clinbench_binary(), "fidelity", "--tokenizer",
                                 testing::synthetic_model("llama", "f16"),
                                 testing::synthetic_model("qwen2", "f16"), "--dataset", dataset});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("vocab_size"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("item cb-val-001 (loglik prompt)"), std::string::npos) << r.out;
}

TEST(Fidelity, BadRequestsAreNamed) {
  const std::string dataset = data("curebench_valset.jsonl");
  const std::string model = testing::stories_model();
  auto run = [](std::vector<std::string> args) {
    args.insert(args.begin(), {testing::clinbench_binary(), "fidelity"});
    return testing::run_command(args);
  };
  auto r = run({"--dataset", dataset});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("exactly one of --reference"), std::string::npos) << r.err;
  r = run({"--reference", model, "--dataset", dataset});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--reference needs --candidate"), std::string::npos) << r.err;
  r = run(
      {"--reference", model, "--candidate", "quantize:q4@no-such-recipe", "--dataset", dataset});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("--candidate quantize:q4@no-such-recipe"), std::string::npos) << r.err;
  r = run({"--reference", model, "--candidate", "offload", "--dataset", dataset});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("only quantize:q8 and quantize:q4"), std::string::npos) << r.err;
  r = run({"--reference", model, "--candidate", "/no/such.gguf", "--dataset", dataset});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("/no/such.gguf"), std::string::npos) << r.err;
  r = run({"--sensitivity", model, "--dataset", dataset});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--sensitivity needs --out"), std::string::npos) << r.err;
  r = run({"--reference", model, "--candidate", "quantize:q8", "--dataset", "/no/such.jsonl"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("--dataset"), std::string::npos) << r.err;
  // A quantized reference has no float weights to measure groups of.
  testing::ScratchDir dir;
  r = run({"--sensitivity", testing::synthetic_model("llama", "q8_0"), "--dataset", dataset,
           "--out", dir.path()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("stored as q8_0"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace clinbench
