// The store's export, samples.jsonl, written atomically (results.json: tests/run/exports_test).
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "clinbench/store.h"
#include "store_test_util.h"
#include "util/atomic_file.h"

namespace clinbench {
namespace {

using store_test::read_file;
using store_test::sample_item;
using store_test::ScratchDir;
using store_test::write_file;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Files in dir other than the expected ones (leftover temporaries).
std::vector<std::string> temporaries(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".tmp.") != std::string::npos) out.push_back(name);
  }
  return out;
}

TEST(StoreExport, SamplesJsonlHasOneDocumentedObjectPerItem) {
  ScratchDir dir;
  auto store = RunStore::open(dir.run_dir());
  ASSERT_TRUE(store);
  ItemRecord bad_utf8 = sample_item("m1", "d", 2);
  bad_utf8.trace = "cut mid-character: \xe2\x82";
  ASSERT_TRUE(store->record_item(sample_item("m2", "d", 1)));
  ASSERT_TRUE(store->record_item(bad_utf8));
  ItemRecord unlabeled = sample_item("m1", "d", 1);
  unlabeled.correct_answer.reset();
  unlabeled.correct.reset();
  unlabeled.ttft_ms.reset();
  ASSERT_TRUE(store->record_item(unlabeled));

  const auto path = RunPaths::samples(dir.run_dir());
  auto exported = store->export_samples_jsonl(path);
  ASSERT_TRUE(exported) << exported.error().message;
  const auto lines = lines_of(read_file(path));
  ASSERT_EQ(lines.size(), 3u);

  const std::vector<std::string> keys = {
      "model",      "dataset",       "item_id",        "split",           "question_type",
      "scoring",    "prompt_tokens", "output_tokens",  "reasoning_chars", "reasoning_tokens",
      "ttft_ms",    "prefill_ms",    "decode_ms",      "tokens_per_s",    "energy_j",
      "choice",     "prediction",    "correct_answer", "correct",         "extraction_rule",
      "truncated",  "error",         "trace",          "extra",           "seq",
      "finished_at"};
  std::vector<nlohmann::ordered_json> objects;
  for (const auto& line : lines) {
    auto object = nlohmann::ordered_json::parse(line, nullptr, false);
    ASSERT_FALSE(object.is_discarded()) << line;
    std::vector<std::string> got;
    for (const auto& [key, value] : object.items()) got.push_back(key);
    EXPECT_EQ(got, keys);
    objects.push_back(std::move(object));
  }
  // Ordered by model, dataset, then finish order.
  EXPECT_EQ(objects[0]["model"], "m1");
  EXPECT_EQ(objects[0]["item_id"], "q00002");
  EXPECT_EQ(objects[0]["trace"], "cut mid-character: \xef\xbf\xbd");
  EXPECT_EQ(objects[1]["item_id"], "q00001");
  EXPECT_TRUE(objects[1]["correct"].is_null());
  EXPECT_TRUE(objects[1]["correct_answer"].is_null());
  EXPECT_TRUE(objects[1]["ttft_ms"].is_null());
  EXPECT_EQ(objects[2]["model"], "m2");
  EXPECT_EQ(objects[2]["correct"], true);
  EXPECT_EQ(objects[2]["correct_answer"], "B");
  EXPECT_EQ(objects[2]["output_tokens"], nlohmann::ordered_json::array({41, 3}));
  EXPECT_EQ(objects[2]["extra"]["turns"], 1);
  EXPECT_EQ(objects[2]["seq"], 1);
  EXPECT_TRUE(temporaries(dir.run_dir()).empty());
}

TEST(StoreExport, ReplacesAnOlderExportWhole) {
  ScratchDir dir;
  auto store = RunStore::open(dir.run_dir());
  ASSERT_TRUE(store);
  const auto path = RunPaths::samples(dir.run_dir());
  write_file(path, "stale content that is longer than the new export will be, by far.........\n");
  ASSERT_TRUE(store->export_samples_jsonl(path));
  EXPECT_EQ(read_file(path), "");  // no items yet
  ASSERT_TRUE(store->record_item(sample_item("m", "d", 1)));
  ASSERT_TRUE(store->export_samples_jsonl(path));
  EXPECT_EQ(lines_of(read_file(path)).size(), 1u);
  EXPECT_TRUE(temporaries(dir.run_dir()).empty());
}

TEST(StoreExport, UnwritableDestinationIsAnErrorAndLeavesNoTemporary) {
  ScratchDir dir;
  auto store = RunStore::open(dir.run_dir());
  ASSERT_TRUE(store);
  auto missing_dir = store->export_samples_jsonl(dir.path() / "no" / "such" / "samples.jsonl");
  ASSERT_FALSE(missing_dir);
  EXPECT_EQ(missing_dir.error().code, ErrorCode::kIo);
  EXPECT_NE(missing_dir.error().message.find("samples.jsonl"), std::string::npos);

  // The target is a directory: the rename fails and the temporary file is removed.
  const auto target = dir.path() / "occupied";
  std::filesystem::create_directories(target / "child");
  auto onto_dir = store->export_samples_jsonl(target);
  ASSERT_FALSE(onto_dir);
  EXPECT_EQ(onto_dir.error().code, ErrorCode::kIo);
  EXPECT_TRUE(temporaries(dir.path()).empty());
  EXPECT_TRUE(std::filesystem::is_directory(target / "child"));
}

TEST(StoreExport, AbandonedAtomicFileRemovesItsTemporary) {
  ScratchDir dir;
  const auto target = dir.path() / "out.json";
  write_file(target, "old");
  {
    auto file = AtomicFile::create(target);
    ASSERT_TRUE(file);
    ASSERT_TRUE(file->append("new but never committed"));
    EXPECT_EQ(temporaries(dir.path()).size(), 1u);
  }
  EXPECT_TRUE(temporaries(dir.path()).empty());
  EXPECT_EQ(read_file(target), "old");
}

}  // namespace
}  // namespace clinbench
