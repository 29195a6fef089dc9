// report --compare with --pair: a base and its adapter entry compared in one run directory, or
// models of other names across two runs, with the paired tests of stats.h; models a run does not
// have and malformed pairs are refused with the name. Runs written through the RunStore API (no
// model).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "clinbench/report.h"
#include "clinbench/stats.h"
#include "clinbench/store.h"
#include "store/store_test_util.h"
#include "test_util.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kItems = 12;

// Whether `model` answers item i right: the base misses every third item, the fine-tune gets
// those and misses items 1 and 2 instead.
bool right(const std::string& model, int i) {
  if (model == "clinical") return i != 1 && i != 2;
  return i % 3 != 0;
}

void put_models(const fs::path& run, const std::vector<std::string>& models) {
  auto store = RunStore::open(run);
  ASSERT_TRUE(store) << store.error().message;
  for (const auto& m : models) {
    json log = {{"format", "clinbench.attempt_log/1"}, {"attempts", json::array()}};
    if (m != "base") log["adapters"] = {{{"path", "/lora/" + m + ".gguf"}, {"scale", 1.0}}};
    ASSERT_TRUE(store->put_model(
        {.name = m, .path = "/models/base.gguf", .strategy = "native", .attempt_log = log.dump()}));
    for (int i = 0; i < kItems; ++i) {
      ItemRecord r = store_test::sample_item(m, "val", i);
      r.choice = right(m, i) ? "B" : "C";
      r.correct = right(m, i);
      ASSERT_TRUE(store->record_item(r));
    }
  }
}

const json& table(const json& doc, const std::string& id) {
  for (const auto& t : doc["tables"]) {
    if (t["id"] == id) return t;
  }
  ADD_FAILURE() << "no table " << id;
  static const json kNone;
  return kNone;
}

TEST(ReportComparePairs, BaseAndAdapterEntryOfOneRun) {
  store_test::ScratchDir dir;
  const fs::path run = dir.run_dir();
  put_models(run, {"base", "clinical"});
  auto doc = compare_data(run, run, {{"base", "clinical"}});
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ((*doc)["paired_by"], "--pair");
  // One dataset: one row, base (A) against clinical (B) on the same items.
  ASSERT_EQ((*doc)["comparisons"].size(), 1u) << (*doc)["comparisons"].dump();
  const json& row = (*doc)["comparisons"][0];
  EXPECT_EQ(row["model_a"], "base");
  EXPECT_EQ(row["model_b"], "clinical");
  EXPECT_EQ(row["label"], "base / clinical");
  std::vector<std::optional<bool>> ca, cb;
  for (int i = 0; i < kItems; ++i) {
    ca.emplace_back(right("base", i));
    cb.emplace_back(right("clinical", i));
  }
  const auto m = *mcnemar_exact(ca, cb);
  const auto d = *paired_bootstrap(ca, cb);
  EXPECT_EQ(m.only_a, 2u);  // items 1 and 2
  EXPECT_EQ(m.only_b, 4u);  // items 0, 3, 6, 9
  EXPECT_EQ(row["pairs"], kItems);
  EXPECT_EQ(row["only_a"], m.only_a);
  EXPECT_EQ(row["only_b"], m.only_b);
  EXPECT_DOUBLE_EQ(row["mcnemar_p"].get<double>(), m.p_value);
  EXPECT_DOUBLE_EQ(row["difference"].get<double>(), d.difference);
  EXPECT_DOUBLE_EQ(row["ci_low"].get<double>(), d.interval.low);
  EXPECT_DOUBLE_EQ(row["ci_high"].get<double>(), d.interval.high);
  // The models table names the adapter entry's adapter; the discordant items are listed.
  const json& models = table(*doc, "compare-models");
  ASSERT_EQ(models["rows"].size(), 1u);
  EXPECT_EQ(models["rows"][0]["adapters_a"], "");
  EXPECT_EQ(models["rows"][0]["adapters_b"], "clinical.gguf (scale 1)");
  EXPECT_EQ(table(*doc, "compare-items")["rows"].size(), m.only_a + m.only_b);
  // One run has no "Run A:" / "Run B:" notices, and its title names it once.
  EXPECT_NE((*doc)["title"].get<std::string>().find("models of"), std::string::npos);

  // The other way round: the signs turn.
  auto back = compare_data(run, run, {{"clinical", "base"}});
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_DOUBLE_EQ((*back)["comparisons"][0]["difference"].get<double>(), -d.difference);
}

TEST(ReportComparePairs, ModelsOfOtherNamesAcrossTwoRuns) {
  store_test::ScratchDir dir;
  const fs::path a = dir.path() / "a", b = dir.path() / "b";
  put_models(a, {"base"});
  put_models(b, {"clinical", "style"});
  // No common name and not one model each: refused, pointing at --pair.
  auto by_name = compare_data(a, b);
  ASSERT_FALSE(by_name);
  EXPECT_NE(by_name.error().message.find("--pair"), std::string::npos) << by_name.error().message;
  auto doc = compare_data(a, b, {{"base", "clinical"}, {"base", "style"}});
  ASSERT_TRUE(doc) << doc.error().message;
  ASSERT_EQ((*doc)["comparisons"].size(), 2u);
  EXPECT_EQ((*doc)["comparisons"][0]["model_b"], "clinical");
  EXPECT_EQ((*doc)["comparisons"][1]["model_b"], "style");
  EXPECT_EQ((*doc)["comparisons"][0]["only_b"], 4u);
}

TEST(ReportComparePairs, UnknownModelsAndMalformedPairsAreNamed) {
  store_test::ScratchDir dir;
  const fs::path run = dir.run_dir();
  put_models(run, {"base", "clinical"});
  auto r = compare_data(run, run, {{"base", "clinicl"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("--pair base=clinicl: run B"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("no model 'clinicl' (its models: base, clinical)"),
            std::string::npos)
      << r.error().message;
  r = compare_data(run, run, {{"bse", "clinical"}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("run A"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("'bse'"), std::string::npos) << r.error().message;
  r = compare_data(run, run, {{"base", "clinical"}, {"base", "clinical"}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("given twice"), std::string::npos) << r.error().message;
  // A run against itself by name would compare every model with itself.
  r = compare_data(run, run);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("compared with itself"), std::string::npos) << r.error().message;

  for (const char* bad : {"", "base", "=clinical", "base=", "="}) {
    auto p = parse_model_pair(bad);
    ASSERT_FALSE(p) << bad;
    EXPECT_EQ(p.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(p.error().message.find("A_MODEL=B_MODEL"), std::string::npos) << p.error().message;
  }
  auto p = parse_model_pair("base=clinical=v2");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->a, "base");
  EXPECT_EQ(p->b, "clinical=v2");
}

TEST(ReportComparePairs, CommandLine) {
  store_test::ScratchDir dir;
  const std::string run = dir.run_dir().string();
  put_models(run, {"base", "clinical"});
  const std::string page = (dir.path() / "pairs.html").string();
  auto r = testing::run_command({testing::clinbench_binary(), "report", "--compare", run, "--pair",
                                 "base=clinical", "-o", page});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(page));
  EXPECT_NE(testing::read_file(page).find("base / clinical"), std::string::npos);
  r = testing::run_command({testing::clinbench_binary(), "report", "--compare", run, run, "--pair",
                            "base=clinical", "-o", page});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = testing::run_command(
      {testing::clinbench_binary(), "report", "--compare", run, "--pair", "base", "-o", page});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--pair 'base': expected A_MODEL=B_MODEL"), std::string::npos) << r.err;
  r = testing::run_command({testing::clinbench_binary(), "report", "--compare", run, "--pair",
                            "base=nobody", "-o", page});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no model 'nobody'"), std::string::npos) << r.err;
  r = testing::run_command({testing::clinbench_binary(), "report", "--compare", run, "-o", page});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--pair"), std::string::npos) << r.err;
  r = testing::run_command({testing::clinbench_binary(), "report", run, "--pair", "base=clinical"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--pair needs --compare"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace clinbench
