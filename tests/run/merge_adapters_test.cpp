// merge and adapters: shards must apply the same adapters with the same scales (their files may
// be under other paths on other machines).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "clinbench/config.h"
#include "clinbench/merge.h"
#include "clinbench/store.h"
#include "test_util.h"

namespace clinbench {
namespace {

// A run directory written through the store (no model): shard `shard` of 2, one item.
void fake_shard(const std::string& dir, int shard, const std::vector<AdapterSpec>& adapters,
                const std::string& item_id) {
  RunConfig cfg;
  ModelConfig m;
  m.name = "m";
  m.path = "/nonexistent/m.gguf";
  m.adapters = adapters;
  cfg.models.push_back(m);
  DatasetConfig d;
  d.name = "val";
  d.path = std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/datasets/curebench_valset.jsonl";
  cfg.datasets.push_back(d);
  cfg.shard = std::pair{shard, 2};
  auto store = RunStore::open(dir);
  ASSERT_TRUE(store) << store.error().message;
  ASSERT_TRUE(store->set_metadata("config", to_json(cfg)));
  ItemRecord r;
  r.model = "m";
  r.dataset = "val";
  r.item_id = item_id;
  r.question_type = "multi_choice";
  r.scoring = "generate";
  ASSERT_TRUE(store->record_item(r));
}

TEST(MergeAdapters, ShardsWithAnotherAdapterScaleAreRefused) {
  testing::ScratchDir dir;
  fake_shard(dir.file("a"), 0, {{"/x/lora.gguf", 0.5f}}, "cb-val-001");
  fake_shard(dir.file("b"), 1, {{"/x/lora.gguf", 1.0f}}, "cb-val-002");
  auto r = merge_runs(dir.file("out"), {dir.file("a"), dir.file("b")});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("models/0/adapter_scales/0: 0.5 vs 1.0"), std::string::npos)
      << r.error().message;
}

TEST(MergeAdapters, ShardsWithAndWithoutAnAdapterAreRefused) {
  testing::ScratchDir dir;
  fake_shard(dir.file("a"), 0, {{"/x/lora.gguf", 1.0f}}, "cb-val-001");
  fake_shard(dir.file("b"), 1, {}, "cb-val-002");
  auto r = merge_runs(dir.file("out"), {dir.file("a"), dir.file("b")});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("adapter_scales"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace clinbench
