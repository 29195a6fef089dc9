#include "model/kv_layout_cache.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace clinbench {
namespace {

using nlohmann::json;

KvMeasurement measurement(const std::string& layout, double split, double unified) {
  return {layout, split, unified, 256, 8, 3, "2026-12-06T19:00:00Z"};
}

TEST(KvLayoutCache, KeepsMeasurementsByExactKeyAcrossOpens) {
  testing::ScratchDir dir;
  const std::string path = dir.path() + "/sub/kv-layout.json";  // the directory is created
  KvLayoutCache c = KvLayoutCache::open(path);
  EXPECT_EQ(c.problem(), "");  // a missing file is an empty cache
  const json a = {{"n_seq", 8}, {"threads", 2}};
  const json b = {{"n_seq", 32}, {"threads", 2}};
  EXPECT_FALSE(c.find(a));
  ASSERT_TRUE(c.put(a, measurement("split", 101.9, 82.5)));
  ASSERT_TRUE(c.put(b, measurement("unified", 90.0, 120.25)));
  ASSERT_TRUE(c.put(a, measurement("split", 105.5, 80.0)));  // replaces a's

  const KvLayoutCache back = KvLayoutCache::open(path);
  EXPECT_EQ(back.problem(), "");
  auto ma = back.find(a);
  ASSERT_TRUE(ma);
  EXPECT_EQ(ma->layout, "split");
  EXPECT_EQ(ma->split_tok_s, 105.5);
  EXPECT_EQ(ma->unified_tok_s, 80.0);
  EXPECT_EQ(ma->depth, 256);
  EXPECT_EQ(ma->steps, 8);
  EXPECT_EQ(ma->unified_steps, 3);
  EXPECT_EQ(ma->measured_at, "2026-12-06T19:00:00Z");
  auto mb = back.find(b);
  ASSERT_TRUE(mb);
  EXPECT_EQ(mb->layout, "unified");
  EXPECT_EQ(mb->unified_tok_s, 120.25);
  EXPECT_FALSE(back.find({{"n_seq", 8}, {"threads", 1}}));  // one field differs: another shape
  EXPECT_EQ(json::parse(testing::read_file(path))["entries"].size(), 2u);

  // An entry of an earlier clinbench, from before unified's timing could stop early, is read
  // (unified timed every step), not taken for a broken file.
  json old = json::parse(testing::read_file(path));
  old["entries"][0].erase("unified_steps");
  testing::write_file(path, old.dump());
  const KvLayoutCache earlier = KvLayoutCache::open(path);
  EXPECT_EQ(earlier.problem(), "");
  auto m0 = earlier.find(old["entries"][0]["key"]);
  ASSERT_TRUE(m0);
  EXPECT_EQ(m0->unified_steps, m0->steps);
}

// A model file rewritten in place (new size or time) makes its old entries unreachable: they go
// when the new one is added, and the file never holds more than kMaxEntries.
TEST(KvLayoutCache, EntriesOfARewrittenModelAndTheOldestBeyondTheCapGo) {
  testing::ScratchDir dir;
  const std::string path = dir.file("kv-layout.json");
  KvLayoutCache c = KvLayoutCache::open(path);
  const json old_file = {{"model", {{"path", "/m.gguf"}, {"mtime", 1}}}, {"n_seq", 8}};
  const json old_other_width = {{"model", {{"path", "/m.gguf"}, {"mtime", 1}}}, {"n_seq", 4}};
  const json other_model = {{"model", {{"path", "/o.gguf"}, {"mtime", 1}}}, {"n_seq", 8}};
  const json new_file = {{"model", {{"path", "/m.gguf"}, {"mtime", 2}}}, {"n_seq", 8}};
  ASSERT_TRUE(c.put(old_file, measurement("split", 1, 1)));
  ASSERT_TRUE(c.put(old_other_width, measurement("split", 1, 1)));
  ASSERT_TRUE(c.put(other_model, measurement("split", 1, 1)));
  ASSERT_TRUE(c.put(new_file, measurement("unified", 1, 2)));
  KvLayoutCache back = KvLayoutCache::open(path);
  EXPECT_FALSE(back.find(old_file));
  EXPECT_FALSE(back.find(old_other_width));
  EXPECT_TRUE(back.find(other_model));
  EXPECT_TRUE(back.find(new_file));

  for (size_t i = 0; i < KvLayoutCache::kMaxEntries + 10; ++i) {
    ASSERT_TRUE(back.put({{"n_seq", i}}, measurement("split", 1, 1)));
  }
  back = KvLayoutCache::open(path);
  EXPECT_EQ(json::parse(testing::read_file(path))["entries"].size(), KvLayoutCache::kMaxEntries);
  EXPECT_FALSE(back.find(other_model));  // the oldest went
  EXPECT_FALSE(back.find({{"n_seq", 9}}));
  EXPECT_TRUE(back.find({{"n_seq", 10}}));
  EXPECT_TRUE(back.find({{"n_seq", KvLayoutCache::kMaxEntries + 9}}));
}

// A file that is not a cache, or one with a bad entry, reads as empty with the reason; the next
// measurement replaces it.
TEST(KvLayoutCache, AnUnreadableFileIsNamedAndReplaced) {
  testing::ScratchDir dir;
  const std::string path = dir.file("kv-layout.json");
  const json key = {{"n_seq", 4}};
  const std::pair<std::string, std::string> cases[] = {
      {"not json", "is not a KV layout cache"},
      {R"({"format": "something-else/1", "entries": []})", "its format is not"},
      {R"({"format": "clinbench-kv-layout/1", "entries": [{"key": {"n_seq": 4},
          "layout": "pooled", "split_tok_s": 1, "unified_tok_s": 2, "depth": 1, "steps": 1,
          "measured_at": "x"}]})",
       "entry 0: layout \"pooled\" is neither split nor unified"},
      {R"({"format": "clinbench-kv-layout/1", "entries": [{"key": {"n_seq": 4},
          "layout": "split"}]})",
       "entry 0:"},
  };
  for (const auto& [text, why] : cases) {
    testing::write_file(path, text);
    KvLayoutCache c = KvLayoutCache::open(path);
    EXPECT_NE(c.problem().find(path), std::string::npos) << c.problem();
    EXPECT_NE(c.problem().find(why), std::string::npos) << c.problem();
    EXPECT_FALSE(c.find(key)) << text;
    ASSERT_TRUE(c.put(key, measurement("split", 3, 2)));
    const KvLayoutCache back = KvLayoutCache::open(path);
    EXPECT_EQ(back.problem(), "") << text;
    EXPECT_TRUE(back.find(key)) << text;
  }
  // A directory that cannot be created: the error names it.
  testing::write_file(dir.file("plain"), "a file");
  KvLayoutCache c = KvLayoutCache::open(dir.file("plain") + "/kv-layout.json");
  auto r = c.put(key, measurement("split", 3, 2));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(dir.file("plain")), std::string::npos) << r.error().message;
}

TEST(KvLayoutCache, ItsPlaceComesFromTheEnvironment) {
  const char* vars[] = {"CLINBENCH_CACHE_DIR", "XDG_CACHE_HOME", "HOME"};
  std::vector<std::optional<std::string>> saved;
  for (const char* v : vars) {
    const char* s = std::getenv(v);
    saved.push_back(s ? std::optional<std::string>(s) : std::nullopt);
  }
  setenv("CLINBENCH_CACHE_DIR", "/c", 1);
  setenv("XDG_CACHE_HOME", "/x", 1);
  setenv("HOME", "/h", 1);
  EXPECT_EQ(kv_layout_cache_path(), std::filesystem::path("/c/kv-layout.json"));
  unsetenv("CLINBENCH_CACHE_DIR");
  EXPECT_EQ(kv_layout_cache_path(), std::filesystem::path("/x/clinbench/kv-layout.json"));
  setenv("XDG_CACHE_HOME", "", 1);  // empty counts as unset
  EXPECT_EQ(kv_layout_cache_path(), std::filesystem::path("/h/.cache/clinbench/kv-layout.json"));
  unsetenv("HOME");
  unsetenv("XDG_CACHE_HOME");
  EXPECT_FALSE(kv_layout_cache_path());
  for (size_t i = 0; i < saved.size(); ++i) {
    if (saved[i]) {
      setenv(vars[i], saved[i]->c_str(), 1);
    } else {
      unsetenv(vars[i]);
    }
  }
}

}  // namespace
}  // namespace clinbench
