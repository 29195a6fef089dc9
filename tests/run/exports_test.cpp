// The end of a run: results.json (clinbench.results/1) and the summaries, written from the store
// by the one writer there is (run/exports.cpp), then the manifest.
#include "run/exports.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "clinbench/store.h"
#include "store/store_test_util.h"

namespace clinbench {
namespace {

using store_test::read_file;
using store_test::sample_item;
using store_test::ScratchDir;

nlohmann::json inputs() {
  return {{"models", nlohmann::json::object()},
          {"datasets", nlohmann::json::object()},
          {"config", nullptr}};
}

TEST(Exports, ResultsJsonHasMetadataModelsAndAccuracy) {
  ScratchDir dir;
  auto store = RunStore::open(dir.run_dir());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set_metadata("build", {{"llama_commit", "80fb11a"}}));
  ModelRecord m;
  m.name = "m";
  m.path = "";  // nothing for the manifest to hash
  m.strategy = "native";
  m.attempt_log =
      R"({"format":"clinbench.attempt_log/1","attempts":[{"strategy":"native","outcome":"ok"}]})";
  ASSERT_TRUE(store->put_model(m));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store->record_item(sample_item("m", "cure", i)));
  ItemRecord test_item = sample_item("m", "cure", 9);
  test_item.split = "test";
  test_item.correct_answer.reset();
  test_item.correct.reset();
  ASSERT_TRUE(store->record_item(test_item));

  auto table = write_run_exports(*store, dir.run_dir(), {{"cure", {{"rows", 4}}}}, inputs());
  ASSERT_TRUE(table) << table.error().message;
  auto results = nlohmann::json::parse(read_file(RunPaths::results(dir.run_dir())), nullptr, false);
  ASSERT_FALSE(results.is_discarded());
  EXPECT_EQ(results["format"], "clinbench.results/1");
  EXPECT_EQ(results["metadata"]["build"]["llama_commit"], "80fb11a");
  EXPECT_EQ(results["extra_counts"]["cure"]["rows"], 4);
  ASSERT_EQ(results["models"].size(), 1u);
  EXPECT_EQ(results["models"][0]["strategy"], "native");
  EXPECT_EQ(results["models"][0]["attempt_log"]["attempts"][0]["outcome"], "ok");
  // Per split and question type, as the store counted them: val has 3 scored items, 1 correct
  // (sample_item answers A, B, C against B); test has no labels, so no accuracy.
  bool val_seen = false, test_seen = false;
  for (const auto& row : results["accuracy"]) {
    if (row["question_type"] != "multi_choice") continue;
    if (row["split"] == "val") {
      val_seen = true;
      EXPECT_EQ(row["items"], 3);
      EXPECT_EQ(row["labeled"], 3);
      EXPECT_EQ(row["scored"], 3);
      EXPECT_EQ(row["correct"], 1);
      EXPECT_EQ(row["truncated"], 0);
      EXPECT_EQ(row["errors"], 0);
    } else if (row["split"] == "test") {
      test_seen = true;
      EXPECT_EQ(row["items"], 1);
      EXPECT_EQ(row["labeled"], 0);
      EXPECT_TRUE(row["accuracy"].is_null());
      EXPECT_EQ(row["note"], "no labels");
    }
  }
  EXPECT_TRUE(val_seen && test_seen) << results["accuracy"].dump(1);
  for (const char* name : {"samples.jsonl", "summary.md", "summary.csv", "manifest.json"}) {
    EXPECT_TRUE(std::filesystem::exists(dir.run_dir() / name)) << name;
  }
  EXPECT_NE(table->find("cure"), std::string::npos) << *table;
}

TEST(Exports, AnAttemptLogThatIsNotJsonIsAnErrorNamingTheModel) {
  ScratchDir dir;
  auto store = RunStore::open(dir.run_dir());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->put_model({.name = "m", .path = "", .attempt_log = "{}"}));
  ASSERT_TRUE(store->record_item(sample_item("m", "cure", 1)));
  {
    // The store validates attempt logs on write (a CHECK constraint too): only a hand edit past
    // the constraint can break one.
    auto db = dir.run_dir() / "run.db";
    const std::string cmd = "sqlite3 '" + db.string() +
                            "' \"PRAGMA ignore_check_constraints = ON; UPDATE models SET "
                            "attempt_log = '{broken' WHERE name = 'm'\"";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  auto table = write_run_exports(*store, dir.run_dir(), nlohmann::json::object(), inputs());
  ASSERT_FALSE(table);
  EXPECT_EQ(table.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(table.error().message.find("model 'm'"), std::string::npos) << table.error().message;
  EXPECT_FALSE(std::filesystem::exists(RunPaths::results(dir.run_dir())));
}

}  // namespace
}  // namespace clinbench
