// Sharding and merge: shards 0/3, 1/3, 2/3 of a real stories260K run, merged, equal the
// unsharded run item for item, and the merged directory packages and verifies. Merge refuses
// overlapping runs, runs of different configs and a shard given twice; it lists gaps.
#include "clinbench/merge.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>

#include "clinbench/config.h"
#include "clinbench/package.h"
#include "clinbench/provenance.h"
#include "clinbench/run.h"
#include "clinbench/store.h"
#include "test_util.h"

namespace clinbench {
namespace {

using Key = std::pair<std::string, std::string>;  // dataset, item id

std::string d_path(const std::string& file) {
  return std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/datasets/" + file;
}

RunConfig stories_config(const testing::ScratchDir& dir, const std::string& out,
                         std::optional<std::pair<int, int>> shard) {
  RunConfig cfg;
  ModelConfig m;
  m.name = "stories";
  m.path = testing::stories_model();
  m.ctx = 1024;
  m.threads = 2;
  cfg.models.push_back(m);
  DatasetConfig d;
  d.name = "medqa";
  d.path = std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/datasets/medqa_test.jsonl";
  cfg.datasets.push_back(d);
  DatasetConfig t;
  t.name = "test";
  t.path = std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/datasets/curebench_testset.jsonl";
  t.limit = 3;
  t.seed = 5;
  cfg.datasets.push_back(t);
  DatasetConfig v;
  v.name = "val";
  v.path = std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/datasets/curebench_valset.jsonl";
  cfg.datasets.push_back(v);
  cfg.decoding.max_tokens = 12;
  cfg.shard = shard;
  cfg.out = dir.file(out);
  return cfg;
}

std::map<Key, ItemRecord> items_of(const std::string& run_dir) {
  std::map<Key, ItemRecord> out;
  auto store = RunStore::open(run_dir);
  EXPECT_TRUE(store) << store.error().message;
  if (!store) return out;
  auto items = store->items();
  EXPECT_TRUE(items);
  for (auto& r : *items) out[{r.dataset, r.item_id}] = r;
  return out;
}

TEST(RunShardMerge, ThreeShardsMergedEqualTheUnshardedRun) {
  testing::ScratchDir dir;
  ASSERT_TRUE(run_evaluation(stories_config(dir, "all", std::nullopt), {}));
  std::vector<std::filesystem::path> shards;
  size_t shard_items = 0;
  for (int i = 0; i < 3; ++i) {
    auto cfg = stories_config(dir, "shard" + std::to_string(i), std::pair{i, 3});
    auto r = run_evaluation(cfg, {});
    ASSERT_TRUE(r) << r.error().message;
    shard_items += static_cast<size_t>(r->items_evaluated);
    shards.push_back(cfg.out);
  }
  // Resuming a shard with another shard's selection is refused.
  auto wrong = run_evaluation(stories_config(dir, "shard0", std::pair{1, 3}), {});
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("started with shard 0/3"), std::string::npos)
      << wrong.error().message;

  auto merged = merge_runs(dir.file("merged"), shards);
  ASSERT_TRUE(merged) << merged.error().message;
  EXPECT_TRUE(merged->complete());
  for (const auto& w : merged->warnings) ADD_FAILURE() << "warning: " << w;

  auto all = items_of(dir.file("all")), got = items_of(dir.file("merged"));
  EXPECT_EQ(all.size(), shard_items);
  ASSERT_EQ(got.size(), all.size());
  for (const auto& [key, r] : all) {
    ASSERT_TRUE(got.count(key)) << key.first << "/" << key.second;
    ItemRecord m = got[key];
    ItemRecord a = r;
    // Times, order and finish times differ from run to run; everything else must not.
    for (ItemRecord* x : {&a, &m}) {
      x->seq = 0;
      x->finished_at.clear();
      x->ttft_ms.reset();
      x->prefill_ms = x->decode_ms = 0;
      x->tokens_per_s.reset();
      x->extra = nlohmann::json::object();
    }
    EXPECT_EQ(m, a) << key.first << "/" << key.second;
  }

  auto v = verify_run(dir.file("merged"));
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_FALSE(v->drifted()) << format_verify_report(*v);
  auto store = RunStore::open(dir.file("merged"));
  ASSERT_TRUE(store);
  // medqa_test.jsonl has one invalid row, which no run can answer: only --partial packages it.
  PackageOptions po;
  po.dataset = "medqa";
  auto pkg = write_submission(*store, "stories", po, dir.file("submission.zip"));
  ASSERT_FALSE(pkg);
  EXPECT_NE(pkg.error().message.find("1 row(s) skipped as invalid (" + d_path("medqa_test.jsonl") +
                                     ":4: "),
            std::string::npos)
      << pkg.error().message;
  po.partial = true;
  pkg = write_submission(*store, "stories", po, dir.file("submission.zip"));
  ASSERT_TRUE(pkg) << pkg.error().message;
  EXPECT_TRUE(pkg->coverage.missing_ids.empty());  // the shards together cover every valid item
  EXPECT_EQ(pkg->coverage.skipped_rows.size(), 1u);
  int64_t medqa_items = 0;
  for (const auto& [key, r] : all) medqa_items += key.first == "medqa";
  EXPECT_EQ(pkg->items, medqa_items);
  auto meta = store->metadata("merge");
  ASSERT_TRUE(meta);
  EXPECT_EQ((*meta)["sources"].size(), 3u);
  auto config = store->metadata("config");
  ASSERT_TRUE(config);
  EXPECT_TRUE((*config)["shard"].is_null());
  store = std::unexpected(Error{});  // release the lock for the CLI below

  // Through the CLI: two of three shards merge with the gap listed (exit 1); a shard with the
  // unsharded run overlaps (exit 2); the merged directory is not overwritten.
  auto part = testing::run_command({testing::clinbench_binary(), "merge", dir.file("part"),
                                    shards[0].string(), shards[2].string()});
  EXPECT_EQ(part.exit_code, 1) << part.err;
  EXPECT_NE(part.err.find("gap: shard 1/3 was not given"), std::string::npos) << part.err;
  EXPECT_NE(part.err.find("gap: model stories, dataset "), std::string::npos) << part.err;
  auto overlap = testing::run_command(
      {testing::clinbench_binary(), "merge", dir.file("bad"), shards[0].string(), dir.file("all")});
  EXPECT_EQ(overlap.exit_code, 2) << overlap.err;
  EXPECT_NE(overlap.err.find("in more than one run directory"), std::string::npos) << overlap.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("bad") + "/run.db"));
  auto again = testing::run_command(
      {testing::clinbench_binary(), "merge", dir.file("merged"), shards[0].string()});
  EXPECT_EQ(again.exit_code, 2) << again.err;
  EXPECT_NE(again.err.find("not an empty directory"), std::string::npos) << again.err;
}

// Run directories written directly through the store (no model): merge's refusals.
void fake_run(const std::string& dir, const RunConfig& cfg, const std::vector<std::string>& ids) {
  auto store = RunStore::open(dir);
  ASSERT_TRUE(store) << store.error().message;
  ASSERT_TRUE(store->set_metadata("config", to_json(cfg)));
  for (const auto& id : ids) {
    ItemRecord r;
    r.model = "m";
    r.dataset = "val";
    r.item_id = id;
    r.question_type = "multi_choice";
    r.scoring = "generate";
    ASSERT_TRUE(store->record_item(r));
  }
}

RunConfig fake_config(std::optional<std::pair<int, int>> shard, int max_tokens = 16) {
  RunConfig cfg;
  ModelConfig m;
  m.name = "m";
  m.path = "/nonexistent/m.gguf";
  cfg.models.push_back(m);
  DatasetConfig d;
  d.name = "val";
  d.path = std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/datasets/curebench_valset.jsonl";
  cfg.datasets.push_back(d);
  cfg.decoding.max_tokens = max_tokens;
  cfg.shard = shard;
  return cfg;
}

TEST(MergeRefusals, DifferentConfigsNamingTheKey) {
  testing::ScratchDir dir;
  fake_run(dir.file("a"), fake_config(std::pair{0, 2}), {"cb-val-001"});
  fake_run(dir.file("b"), fake_config(std::pair{1, 2}, 32), {"cb-val-002"});
  auto r = merge_runs(dir.file("out"), {dir.file("a"), dir.file("b")});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("decoding/max_tokens: 16 vs 32"), std::string::npos)
      << r.error().message;
}

TEST(MergeRefusals, ShardGivenTwiceAndMixedCounts) {
  testing::ScratchDir dir;
  fake_run(dir.file("a"), fake_config(std::pair{0, 2}), {"cb-val-001"});
  fake_run(dir.file("b"), fake_config(std::pair{0, 2}), {"cb-val-002"});
  fake_run(dir.file("c"), fake_config(std::pair{1, 3}), {"cb-val-003"});
  auto twice = merge_runs(dir.file("out"), {dir.file("a"), dir.file("b")});
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find("shard 0/2 is given twice"), std::string::npos)
      << twice.error().message;
  auto mixed = merge_runs(dir.file("out"), {dir.file("a"), dir.file("c")});
  ASSERT_FALSE(mixed);
  EXPECT_NE(mixed.error().message.find("not one of 2 shards"), std::string::npos)
      << mixed.error().message;
}

TEST(MergeRefusals, OverlapListsTheItemsAndWritesNothing) {
  testing::ScratchDir dir;
  fake_run(dir.file("a"), fake_config(std::nullopt), {"cb-val-001", "cb-val-002"});
  fake_run(dir.file("b"), fake_config(std::nullopt), {"cb-val-002", "cb-val-003"});
  auto r = merge_runs(dir.file("out"), {dir.file("a"), dir.file("b")});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("item cb-val-002: in"), std::string::npos) << r.error().message;
  EXPECT_FALSE(std::filesystem::exists(dir.file("out")));
}

TEST(MergeRefusals, NotARunDirectory) {
  testing::ScratchDir dir;
  auto r = merge_runs(dir.file("out"), {dir.path()});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not a run directory (no run.db)"), std::string::npos)
      << r.error().message;
}

TEST(MergeRefusals, GapsAreListedNotRefused) {
  testing::ScratchDir dir;
  fake_run(dir.file("a"), fake_config(std::nullopt), {"cb-val-001"});
  auto r = merge_runs(dir.file("out"), {dir.file("a")});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->complete());
  ASSERT_EQ(r->gaps.size(), 1u);
  EXPECT_EQ(r->gaps[0].model, "m");
  EXPECT_EQ(r->gaps[0].dataset, "val");
  EXPECT_FALSE(r->gaps[0].item_ids.empty());
  for (const auto& id : r->gaps[0].item_ids) EXPECT_NE(id, "cb-val-001");
}

// The merged run's energy: the sources' totals summed when every source has one, else null;
// each item keeps its own.
TEST(MergeEnergy, TotalsAreSummedOnlyWhenEverySourceMeasured) {
  testing::ScratchDir dir;
  auto energy = [](std::optional<double> j) {
    return nlohmann::json{{"meters", nlohmann::json::array({{{"name", "package-0"}}})},
                          {"unavailable", nlohmann::json::array()},
                          {"energy_j", j ? nlohmann::json(*j) : nlohmann::json()},
                          {"by_meter", {{"package-0", j ? nlohmann::json(*j) : nlohmann::json()}}},
                          {"sampler", nullptr}};
  };
  const std::vector<std::optional<double>> totals = {10.0, 5.5, std::nullopt};
  for (int i = 0; i < 3; ++i) {
    const std::string d = dir.file("s" + std::to_string(i));
    fake_run(d, fake_config(std::pair{i, 3}), {fmt::format("cb-val-00{}", i + 1)});
    auto store = RunStore::open(d);
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE(store->set_metadata("energy", energy(totals[static_cast<size_t>(i)])));
  }
  auto both = merge_runs(dir.file("two"), {dir.file("s0"), dir.file("s1")});
  ASSERT_TRUE(both) << both.error().message;
  {
    auto merged = RunStore::open(dir.file("two"));
    ASSERT_TRUE(merged) << merged.error().message;
    const auto e = merged->metadata("energy");
    ASSERT_TRUE(e && e->is_object()) << (e ? e->dump() : e.error().message);
    EXPECT_DOUBLE_EQ((*e)["energy_j"].get<double>(), 15.5);
    EXPECT_EQ((*e)["meters"][0]["name"], "package-0");
    EXPECT_FALSE((*e).contains("by_meter"));  // one source's, not the sum's
  }
  auto three = merge_runs(dir.file("three"), {dir.file("s0"), dir.file("s1"), dir.file("s2")});
  ASSERT_TRUE(three) << three.error().message;
  auto merged = RunStore::open(dir.file("three"));
  ASSERT_TRUE(merged) << merged.error().message;
  const auto e = merged->metadata("energy");
  ASSERT_TRUE(e && e->is_object());
  EXPECT_TRUE((*e)["energy_j"].is_null()) << *e;
}

}  // namespace
}  // namespace clinbench
