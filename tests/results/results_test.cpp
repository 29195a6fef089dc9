// Results from hand-made ItemRecords with numbers worked out by hand.
#include "clinbench/results.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace clinbench {
namespace {

ItemRecord rec(const std::string& model, const std::string& dataset, const std::string& id,
               const std::string& split, const std::string& type, std::optional<bool> correct,
               bool labeled = true) {
  ItemRecord r;
  r.model = model;
  r.dataset = dataset;
  r.item_id = id;
  r.split = split;
  r.question_type = type;
  r.scoring = "generate";
  r.prompt_tokens = 100;
  r.output_tokens = {50};
  r.reasoning_chars = 200;
  r.reasoning_tokens = 40;
  r.prefill_ms = 10;
  r.decode_ms = 1000;
  r.choice = "A";
  if (labeled) r.correct_answer = "A";
  r.correct = correct;
  r.extraction_rule = "answer_statement";
  return r;
}

// m1 and m2 on "cure": val has 10 multi_choice (m1 right on 0..7, m2 on 5..7), 2
// open_ended_multi_choice (both right on the first only) and 1 open_ended (never scored); test has
// 5 unlabeled multi_choice. m1 also on "mmlu" val 4/5 and test 2/5; m2 on "mmlu" val 5/5.
std::vector<ItemRecord> fixture() {
  std::vector<ItemRecord> items;
  for (const std::string model : {"m1", "m2"}) {
    for (int i = 0; i < 10; ++i) {
      const bool right = model == "m1" ? i < 8 : (i >= 5 && i < 8);
      items.push_back(rec(model, "cure", "mc" + std::to_string(i), "val", "multi_choice", right));
    }
    for (int i = 0; i < 2; ++i) {
      ItemRecord r =
          rec(model, "cure", "oemc" + std::to_string(i), "val", "open_ended_multi_choice", i == 0);
      r.output_tokens = {30, 20};  // two turns
      items.push_back(r);
    }
    ItemRecord open = rec(model, "cure", "oe0", "val", "open_ended", std::nullopt);
    open.choice = "NOTAVALUE";
    open.extraction_rule = "";
    items.push_back(open);
    for (int i = 0; i < 5; ++i) {
      items.push_back(rec(model, "cure", "t" + std::to_string(i), "test", "multi_choice",
                          std::nullopt, /*labeled=*/false));
    }
  }
  items[0].truncated = true;  // m1 cure mc0
  items[1].error = "decode failed";
  items[1].extraction_rule = "none";
  for (int i = 0; i < 5; ++i) {
    items.push_back(rec("m1", "mmlu", "v" + std::to_string(i), "val", "multi_choice", i < 4));
    items.push_back(rec("m1", "mmlu", "s" + std::to_string(i), "test", "multi_choice", i < 2));
    items.push_back(rec("m2", "mmlu", "v" + std::to_string(i), "val", "multi_choice", true));
  }
  return items;
}

const AccuracyRow* find_row(const RunResults& r, const std::string& model,
                            const std::string& dataset, const std::string& split,
                            const std::string& type) {
  for (const AccuracyRow& row : r.accuracy) {
    if (row.model == model && row.dataset == dataset && row.split == split &&
        row.question_type == type) {
      return &row;
    }
  }
  return nullptr;
}

TEST(ResultsAccuracy, PerModelDatasetSplitAndType) {
  const RunResults r = compute_results(fixture());
  const AccuracyRow* mc = find_row(r, "m1", "cure", "val", "multi_choice");
  ASSERT_NE(mc, nullptr);
  EXPECT_EQ(mc->accuracy.items, 10u);
  EXPECT_EQ(mc->accuracy.labeled, 10u);
  EXPECT_EQ(mc->accuracy.correct, 8u);
  EXPECT_DOUBLE_EQ(*mc->accuracy.accuracy, 0.8);
  // Wilson 95% for 8/10.
  EXPECT_NEAR(mc->accuracy.interval->low, 0.4902, 1e-4);
  EXPECT_NEAR(mc->accuracy.interval->high, 0.9433, 1e-4);
  EXPECT_EQ(mc->truncated, 1u);
  EXPECT_EQ(mc->errors, 1u);
  EXPECT_EQ(mc->note, "");
  EXPECT_EQ(mc->scorable, 10u);
  EXPECT_DOUBLE_EQ(*mc->strict_accuracy(), 0.8);

  const AccuracyRow* oemc = find_row(r, "m1", "cure", "val", "open_ended_multi_choice");
  ASSERT_NE(oemc, nullptr);
  EXPECT_DOUBLE_EQ(*oemc->accuracy.accuracy, 0.5);

  // open_ended: an answer in the data, but never scored.
  const AccuracyRow* oe = find_row(r, "m1", "cure", "val", "open_ended");
  ASSERT_NE(oe, nullptr);
  EXPECT_FALSE(oe->accuracy.accuracy);
  EXPECT_EQ(oe->accuracy.items, 1u);
  EXPECT_EQ(oe->labeled, 1u);
  EXPECT_EQ(oe->note, "not scored");
  EXPECT_EQ(oe->scorable, 0u);
  EXPECT_FALSE(oe->strict_accuracy());

  // The whole val split: 9 right of 12 scored, 13 items.
  const AccuracyRow* all = find_row(r, "m1", "cure", "val", kAllQuestionTypes);
  ASSERT_NE(all, nullptr);
  EXPECT_EQ(all->accuracy.items, 13u);
  EXPECT_EQ(all->accuracy.labeled, 12u);
  EXPECT_EQ(all->accuracy.correct, 9u);
  EXPECT_DOUBLE_EQ(*all->accuracy.accuracy, 0.75);

  // The unlabeled test split: no accuracy, never 0%.
  const AccuracyRow* test = find_row(r, "m1", "cure", "test", "multi_choice");
  ASSERT_NE(test, nullptr);
  EXPECT_EQ(test->accuracy.items, 5u);
  EXPECT_EQ(test->accuracy.labeled, 0u);
  EXPECT_FALSE(test->accuracy.accuracy);
  EXPECT_FALSE(test->accuracy.interval);
  EXPECT_EQ(test->note, "no labels");
}

TEST(ResultsAccuracy, StrictAccuracyCountsUnscoredLabeledItemsAsWrong) {
  // 4 labeled items: 2 right, 1 wrong, 1 cut by the token budget before it answered (the engine
  // leaves `correct` unset), so accuracy is 2/3 and strict accuracy 2/4.
  std::vector<ItemRecord> items = {rec("m", "d", "1", "val", "multi_choice", true),
                                   rec("m", "d", "2", "val", "multi_choice", true),
                                   rec("m", "d", "3", "val", "multi_choice", false),
                                   rec("m", "d", "4", "val", "multi_choice", std::nullopt)};
  items[3].truncated = true;
  const RunResults r = compute_results(items);
  const AccuracyRow* row = find_row(r, "m", "d", "val", "multi_choice");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->accuracy.labeled, 3u);
  EXPECT_DOUBLE_EQ(*row->accuracy.accuracy, 2.0 / 3);
  EXPECT_EQ(row->scorable, 4u);
  EXPECT_DOUBLE_EQ(*row->strict_accuracy(), 0.5);
  EXPECT_EQ(row->truncated, 1u);
  EXPECT_EQ(row->note, "");
  const nlohmann::json j = results_json(r);
  EXPECT_DOUBLE_EQ(j["accuracy"][0]["strict_accuracy"].get<double>(), 0.5);
  EXPECT_EQ(j["accuracy"][0]["labeled"], 4);
  EXPECT_EQ(j["accuracy"][0]["scorable"], 4);
  EXPECT_EQ(j["accuracy"][0]["scored"], 3);
}

TEST(ResultsAccuracy, LabeledButNothingScoredIsNotCalledUnlabeled) {
  // Every labeled item cut by the budget: the split has labels, but no accuracy, and says why.
  std::vector<ItemRecord> items = {rec("m", "d", "1", "val", "multi_choice", std::nullopt),
                                   rec("m", "d", "2", "val", "multi_choice", std::nullopt),
                                   rec("m", "d", "3", "test", "multi_choice", true)};
  items[0].truncated = true;
  items[1].error = "backend failed";
  const RunResults r = compute_results(items);
  const AccuracyRow* row = find_row(r, "m", "d", "val", "multi_choice");
  ASSERT_NE(row, nullptr);
  EXPECT_FALSE(row->accuracy.accuracy);
  EXPECT_EQ(row->note, "none scored (2 labeled: truncated or failed)");
  EXPECT_DOUBLE_EQ(*row->strict_accuracy(), 0.0);
  ASSERT_EQ(r.gaps.size(), 1u);
  EXPECT_FALSE(r.gaps[0].gap);
  EXPECT_EQ(r.gaps[0].note, "split val has no scored item (2 labeled: truncated or failed)");
}

TEST(ResultsAccuracy, RowsAreOrderedWithTypesInProtocolOrderAndAllLast) {
  const RunResults r = compute_results(fixture());
  std::vector<std::string> m1_cure_val;
  for (const AccuracyRow& row : r.accuracy) {
    if (row.model == "m1" && row.dataset == "cure" && row.split == "val") {
      m1_cure_val.push_back(row.question_type);
    }
  }
  EXPECT_EQ(m1_cure_val, (std::vector<std::string>{"multi_choice", "open_ended_multi_choice",
                                                   "open_ended", "all"}));
  EXPECT_EQ(r.accuracy.front().model, "m1");
  EXPECT_EQ(r.accuracy.front().dataset, "cure");
  EXPECT_EQ(r.accuracy.front().split, "test");  // splits by name
  EXPECT_EQ(r.accuracy.back().model, "m2");
  EXPECT_EQ(r.accuracy.back().dataset, "mmlu");
}

TEST(ResultsUsage, TokensTimesAndRules) {
  const RunResults r = compute_results(fixture());
  ASSERT_EQ(r.usage.size(), 4u);
  const UsageRow& u = r.usage[0];
  EXPECT_EQ(u.model, "m1");
  EXPECT_EQ(u.dataset, "cure");
  EXPECT_EQ(u.items, 18u);
  EXPECT_EQ(u.prompt_tokens, 1800);
  EXPECT_EQ(u.output_tokens, 18 * 50);  // the two-turn items also total 50
  EXPECT_DOUBLE_EQ(u.avg_prompt_tokens(), 100.0);
  EXPECT_DOUBLE_EQ(u.avg_output_tokens(), 50.0);
  EXPECT_DOUBLE_EQ(u.avg_reasoning_chars(), 200.0);
  EXPECT_DOUBLE_EQ(u.avg_reasoning_tokens(), 40.0);
  EXPECT_DOUBLE_EQ(*u.decode_tokens_per_s(), 50.0);  // 900 tokens in 18 s
  EXPECT_DOUBLE_EQ(u.prefill_ms, 180.0);
  EXPECT_EQ(u.truncated, 1u);
  EXPECT_EQ(u.errors, 1u);
  EXPECT_EQ(u.extraction_rules.at("answer_statement"), 16u);
  EXPECT_EQ(u.extraction_rules.at("none"), 1u);
  EXPECT_EQ(u.extraction_rules.at(""), 1u);
  EXPECT_EQ(u.scoring.at("generate"), 18u);

  UsageRow empty;
  EXPECT_EQ(empty.avg_output_tokens(), 0.0);
  EXPECT_FALSE(empty.decode_tokens_per_s());
}

TEST(ResultsPairwise, McNemarAndBootstrapOnTheSameItems) {
  const RunResults r = compute_results(fixture());
  ASSERT_EQ(r.pairwise.size(), 3u);  // cure, mmlu, pooled
  const PairwiseRow& cure = r.pairwise[0];
  EXPECT_EQ(cure.model_a, "m1");
  EXPECT_EQ(cure.model_b, "m2");
  ASSERT_TRUE(cure.dataset);
  EXPECT_EQ(*cure.dataset, "cure");
  EXPECT_EQ(cure.common_items, 18u);
  EXPECT_EQ(cure.mcnemar.pairs, 12u);
  EXPECT_EQ(cure.mcnemar.skipped, 6u);  // open_ended and the unlabeled test split
  EXPECT_EQ(cure.mcnemar.only_a, 5u);
  EXPECT_EQ(cure.mcnemar.only_b, 0u);
  EXPECT_EQ(cure.mcnemar.both_correct, 4u);
  EXPECT_EQ(cure.mcnemar.both_wrong, 3u);
  EXPECT_DOUBLE_EQ(cure.mcnemar.p_value, 0.0625);  // 2 * 0.5^5
  ASSERT_TRUE(cure.difference);
  EXPECT_DOUBLE_EQ(cure.difference->accuracy_a, 9.0 / 12);
  EXPECT_DOUBLE_EQ(cure.difference->accuracy_b, 4.0 / 12);
  EXPECT_DOUBLE_EQ(cure.difference->difference, 5.0 / 12);
  // Every discordant item favours m1: the interval is of positive differences.
  EXPECT_GT(cure.difference->interval.low, 0.0);
  EXPECT_LE(cure.difference->interval.high, 10.0 / 12 + 1e-12);

  const PairwiseRow& mmlu = r.pairwise[1];
  EXPECT_EQ(*mmlu.dataset, "mmlu");
  EXPECT_EQ(mmlu.common_items, 5u);  // m2 has no mmlu test items
  EXPECT_EQ(mmlu.mcnemar.only_b, 1u);

  const PairwiseRow& pooled = r.pairwise[2];
  EXPECT_FALSE(pooled.dataset);
  EXPECT_EQ(pooled.common_items, 23u);
  EXPECT_EQ(pooled.mcnemar.pairs, 17u);
  EXPECT_EQ(pooled.mcnemar.only_a, 5u);
  EXPECT_EQ(pooled.mcnemar.only_b, 1u);
  EXPECT_NEAR(pooled.mcnemar.p_value, 2 * 7.0 / 64, 1e-12);  // P(Bin(6, .5) <= 1) = 7/64
}

TEST(ResultsPairwise, NoLabeledPairsMeansNoDifference) {
  std::vector<ItemRecord> items = {rec("a", "d", "1", "test", "multi_choice", std::nullopt, false),
                                   rec("b", "d", "1", "test", "multi_choice", std::nullopt, false),
                                   rec("b", "d", "2", "test", "multi_choice", std::nullopt, false)};
  const RunResults r = compute_results(items);
  ASSERT_EQ(r.pairwise.size(), 1u);
  EXPECT_EQ(r.pairwise[0].common_items, 1u);
  EXPECT_EQ(r.pairwise[0].mcnemar.pairs, 0u);
  EXPECT_FALSE(r.pairwise[0].difference);
  const nlohmann::json j = results_json(r);
  EXPECT_TRUE(j["pairwise"][0]["mcnemar_p"].is_null());
  EXPECT_TRUE(j["pairwise"][0]["difference"].is_null());
  EXPECT_NE(summary_table(r).find("none labeled on both sides"), std::string::npos);
}

TEST(ResultsGap, OnlyWhenBothSplitsAreLabeled) {
  const RunResults r = compute_results(fixture());
  // m1 cure and m2 cure (test unlabeled), m1 mmlu; m2 has no mmlu test split.
  ASSERT_EQ(r.gaps.size(), 3u);
  EXPECT_EQ(r.gaps[2].model, "m2");
  EXPECT_FALSE(r.gaps[2].gap);
  const GapRow& cure = r.gaps[0];
  EXPECT_EQ(cure.dataset, "cure");
  EXPECT_FALSE(cure.gap);
  EXPECT_EQ(cure.note, "split test has no labels");
  const GapRow& mmlu = r.gaps[1];
  EXPECT_EQ(mmlu.model, "m1");
  EXPECT_EQ(mmlu.dataset, "mmlu");
  EXPECT_EQ(mmlu.reference_split, "val");
  EXPECT_EQ(mmlu.other_split, "test");
  ASSERT_TRUE(mmlu.gap);
  EXPECT_NEAR(mmlu.gap->gap, 0.4, 1e-12);  // 4/5 - 2/5
  EXPECT_LT(mmlu.gap->interval.low, 0.4);
  EXPECT_GT(mmlu.gap->interval.high, 0.4);
}

TEST(ResultsJson, HoldsEveryTableAndPassesExtraCountsThrough) {
  const nlohmann::json extra = {{"cure", {{"skipped_lines", 3}}}};
  const nlohmann::json j = results_json(fixture(), extra);
  EXPECT_EQ(j["format"], "clinbench.results/1");
  EXPECT_EQ(j["extra_counts"], extra);
  bool found_test = false;
  for (const auto& row : j["accuracy"]) {
    if (row["model"] == "m1" && row["dataset"] == "cure" && row["split"] == "val" &&
        row["question_type"] == "multi_choice") {
      EXPECT_EQ(row["items"], 10);
      EXPECT_EQ(row["correct"], 8);
      EXPECT_DOUBLE_EQ(row["accuracy"].get<double>(), 0.8);
      EXPECT_NEAR(row["ci_low"].get<double>(), 0.4902, 1e-4);
      EXPECT_TRUE(row["note"].is_null());
    }
    if (row["model"] == "m1" && row["split"] == "test" && row["dataset"] == "cure" &&
        row["question_type"] == "multi_choice") {
      found_test = true;
      EXPECT_TRUE(row["accuracy"].is_null());
      EXPECT_TRUE(row["ci_low"].is_null());
      EXPECT_EQ(row["labeled"], 0);
      EXPECT_EQ(row["scored"], 0);
      EXPECT_EQ(row["note"], "no labels");
    }
  }
  EXPECT_TRUE(found_test);
  EXPECT_EQ(j["usage"][0]["extraction_rules"]["answer_statement"], 16);
  EXPECT_DOUBLE_EQ(j["usage"][0]["decode_tokens_per_s"].get<double>(), 50.0);
  EXPECT_EQ(j["pairwise"][0]["only_a"], 5);
  EXPECT_DOUBLE_EQ(j["pairwise"][0]["mcnemar_p"].get<double>(), 0.0625);
  EXPECT_TRUE(j["pairwise"][2]["dataset"].is_null());
  EXPECT_TRUE(j["generalization_gap"][0]["gap"].is_null());
  EXPECT_EQ(j["generalization_gap"][0]["note"], "split test has no labels");
  EXPECT_NEAR(j["generalization_gap"][1]["gap"].get<double>(), 0.4, 1e-12);
  // Deterministic, bootstrap included.
  EXPECT_EQ(j.dump(), results_json(fixture(), extra).dump());
  EXPECT_FALSE(results_json(fixture()).contains("extra_counts"));
}

TEST(ResultsJson, InvalidUtf8DoesNotBreakDump) {
  std::vector<ItemRecord> items = {rec("m\xff\xfe", "d\xc3", "1", "val", "multi_choice", true)};
  items[0].extraction_rule = "r\xed\xa0\x80";  // a UTF-8 encoded surrogate
  const nlohmann::json j = results_json(items);
  std::string dumped;
  ASSERT_NO_THROW(dumped = j.dump());
  EXPECT_EQ(j["accuracy"][0]["model"], "m\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(j["accuracy"][0]["dataset"], "d\xEF\xBF\xBD");
}

TEST(ResultsJson, EmptyInput) {
  const RunResults r = compute_results({});
  EXPECT_TRUE(r.accuracy.empty());
  EXPECT_TRUE(r.pairwise.empty());
  const nlohmann::json j = results_json(r);
  EXPECT_TRUE(j["accuracy"].empty());
  EXPECT_EQ(summary_csv(r),
            "model,dataset,split,question_type,items,labeled,scorable,scored,correct,accuracy,ci_"
            "low,ci_high,"
            "strict_accuracy,truncated,errors,note\r\n");
  EXPECT_NO_THROW(summary_table(r));
  EXPECT_NO_THROW(summary_markdown(r));
}

TEST(ResultsCsv, QuotesPerRfc4180) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field(""), "");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_field("cr\r"), "\"cr\r\"");

  std::vector<ItemRecord> items = {
      rec("llama, \"8B\"", "d", "1", "val", "multi_choice", true),
      rec("llama, \"8B\"", "d", "2", "val", "multi_choice", false),
      rec("llama, \"8B\"", "d", "3", "test", "multi_choice", std::nullopt, false)};
  const std::string csv = summary_csv(items);
  EXPECT_NE(
      csv.find("\r\n\"llama, \"\"8B\"\"\",d,test,multi_choice,1,0,0,0,0,,,,,0,0,no labels\r\n"),
      std::string::npos)
      << csv;
  EXPECT_NE(
      csv.find("\"llama, \"\"8B\"\"\",d,val,multi_choice,2,2,2,2,1,0.5000,0.0945,0.9055,0.5000,0,0,"
               "\r\n"),
      std::string::npos)
      << csv;
  // Every line ends in CRLF and has 14 fields outside quotes.
  std::size_t lines = 0;
  for (std::size_t pos = 0; (pos = csv.find("\r\n", pos)) != std::string::npos; pos += 2) ++lines;
  EXPECT_EQ(lines, 1u + 4u);  // header, val, val/all, test, test/all
}

TEST(ResultsMarkdown, TablesWithAllRowsOnlyWhereTheyAddSomething) {
  const std::string md = summary_markdown(fixture());
  EXPECT_NE(md.find("## Accuracy"), std::string::npos);
  EXPECT_NE(md.find("| m1 | cure | val | multi_choice | 10 | 10 | 10 | 8 | 80.0% | [49.0, 94.3] |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| m1 | cure | val | all | 13 | 13 | 12 | 9 | 75.0% |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| m1 | cure | test | multi_choice | 5 | 0 | 0 | 0 | no labels |  |"),
            std::string::npos)
      << md;
  EXPECT_EQ(md.find("| m1 | cure | test | all |"), std::string::npos) << md;  // one type only
  EXPECT_NE(md.find("| m1 | cure | val | open_ended | 1 | 1 | 0 | 0 | not scored |"),
            std::string::npos);
  EXPECT_NE(md.find("## Usage"), std::string::npos);
  EXPECT_NE(md.find("answer_statement: 16, (no rule): 1, none: 1"), std::string::npos) << md;
  EXPECT_NE(md.find("## Paired comparisons"), std::string::npos);
  EXPECT_NE(md.find("| m1 | m2 | cure | 12 | 5 | 0 | 0.0625 | +41.7 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| m1 | m2 | all shared datasets | 17 |"), std::string::npos) << md;
  EXPECT_NE(md.find("## Generalization gap"), std::string::npos);
  EXPECT_NE(md.find("| m1 | mmlu | val - test | 80.0% | 40.0% | +40.0 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| m1 | cure | val - test | 75.0% | no labels | no gap: split test has no "
                    "labels |"),
            std::string::npos)
      << md;

  std::vector<ItemRecord> pipes = {rec("a|b", "d", "1", "val", "multi_choice", true)};
  EXPECT_NE(summary_markdown(pipes).find("| a\\|b | d |"), std::string::npos);
}

TEST(ResultsTable, ReadableOnATerminal) {
  const std::string t = summary_table(fixture());
  EXPECT_NE(t.find("80.0% [49.0, 94.3]"), std::string::npos) << t;
  EXPECT_NE(t.find("no labels"), std::string::npos) << t;
  EXPECT_NE(t.find("gap val - test, m1 on mmlu: +40.0 points ["), std::string::npos) << t;
  EXPECT_NE(t.find("gap val - test, m1 on cure: no gap: split test has no labels"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("m1 vs m2 on cure: 12 pairs, only m1 right 5, only m2 right 0, McNemar p = "
                   "0.0625, difference +41.7 points ["),
            std::string::npos)
      << t;
  // Columns line up: every row of the accuracy table has "cure" or "mmlu" at the same offset.
  const std::size_t header_dataset = t.find("dataset");
  const std::size_t first_row = t.find('\n') + 1;
  EXPECT_EQ(t.find("cure", first_row) - first_row, header_dataset);
}

TEST(ResultsEnergy, TotalsOnlyWhenEveryItemIsMeasured) {
  std::vector<ItemRecord> items;
  for (int i = 0; i < 4; ++i) {
    ItemRecord r = rec("m1", "cure", fmt::format("q{}", i), "val", "multi_choice", i < 3);
    r.energy_j = 2.0 + i;  // 14 J in all
    items.push_back(r);
    ItemRecord s = rec("m2", "cure", fmt::format("q{}", i), "val", "multi_choice", true);
    if (i != 1) s.energy_j = 1.0;  // one item unmeasured
    items.push_back(s);
  }
  const RunResults res = compute_results(items);
  ASSERT_EQ(res.usage.size(), 2u);
  const UsageRow& u1 = res.usage[0];
  EXPECT_EQ(u1.energy_items, 4u);
  EXPECT_EQ(u1.correct, 3u);
  EXPECT_DOUBLE_EQ(*u1.total_energy_j(), 14.0);
  EXPECT_DOUBLE_EQ(*u1.joules_per_correct(), 14.0 / 3);
  EXPECT_DOUBLE_EQ(*u1.joules_per_output_token(), 14.0 / 200);  // 4 items x 50 tokens
  const UsageRow& u2 = res.usage[1];
  EXPECT_EQ(u2.energy_items, 3u);
  EXPECT_FALSE(u2.total_energy_j());
  EXPECT_FALSE(u2.joules_per_correct());
  ASSERT_EQ(res.energy.size(), 2u);
  EXPECT_EQ(res.energy[0].model, "m1");
  EXPECT_DOUBLE_EQ(*res.energy[0].total_energy_j(), 14.0);
  EXPECT_FALSE(res.energy[1].total_energy_j());

  const auto j = results_json(res);
  EXPECT_DOUBLE_EQ(j["usage"][0]["energy_j"].get<double>(), 14.0);
  EXPECT_TRUE(j["usage"][1]["energy_j"].is_null());
  EXPECT_EQ(j["energy"][1]["energy_items"], 3);
  const std::string md = summary_markdown(res);
  EXPECT_NE(md.find("## Energy"), std::string::npos) << md;
  EXPECT_NE(md.find("| m1 | 4/4 | 14.0 | 4.67 | 0.0700 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| m2 | 3/4 | - | - | - |"), std::string::npos) << md;
}

TEST(ResultsEnergy, NothingMeasuredSaysSo) {
  const RunResults res = compute_results({rec("m", "d", "q", "val", "multi_choice", true)});
  EXPECT_NE(summary_markdown(res).find("Not measured"), std::string::npos);
  EXPECT_TRUE(results_json(res)["energy"][0]["energy_j"].is_null());
}

}  // namespace
}  // namespace clinbench
