// The CURE-Bench submission package: CSV quoting, the zip read back with libzip, meta_data.json,
// errors.
#include "clinbench/package.h"

#include <gtest/gtest.h>
#include <zip.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "clinbench/store.h"
#include "store/store_test_util.h"
#include "test_util.h"

namespace clinbench {
namespace {

using store_test::sample_item;
using Rows = std::vector<std::vector<std::string>>;

// RFC 4180 reader for the tests: every field must be quoted, records end with CRLF.
Rows parse_quoted_csv(const std::string& text) {
  Rows rows;
  std::vector<std::string> row;
  size_t i = 0;
  while (i < text.size()) {
    EXPECT_EQ(text[i], '"') << "unquoted field at byte " << i;
    if (text[i] != '"') return rows;
    ++i;
    std::string field;
    for (;;) {
      EXPECT_LT(i, text.size()) << "unterminated quoted field";
      if (i >= text.size()) return rows;
      if (text[i] == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          i += 2;
          continue;
        }
        ++i;
        break;
      }
      field += text[i++];
    }
    row.push_back(field);
    if (i < text.size() && text[i] == ',') {
      ++i;
    } else {
      EXPECT_EQ(text.substr(i, 2), "\r\n") << "record not ended by CRLF at byte " << i;
      i += 2;
      rows.push_back(std::move(row));
      row.clear();
    }
  }
  EXPECT_TRUE(row.empty());
  return rows;
}

struct ZipClose {
  void operator()(zip_t* z) const { zip_discard(z); }
};

// name -> content of every entry of the zip.
std::map<std::string, std::string> read_zip(const std::filesystem::path& path) {
  std::map<std::string, std::string> out;
  int err = 0;
  std::unique_ptr<zip_t, ZipClose> z(zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &err));
  EXPECT_TRUE(z) << "zip_open " << path << " error " << err;
  if (!z) return out;
  const zip_int64_t n = zip_get_num_entries(z.get(), 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    EXPECT_EQ(zip_stat_index(z.get(), static_cast<zip_uint64_t>(i), 0, &st), 0);
    zip_file_t* f = zip_fopen_index(z.get(), static_cast<zip_uint64_t>(i), 0);
    EXPECT_NE(f, nullptr);
    if (!f) continue;
    std::string content(st.size, '\0');
    EXPECT_EQ(zip_fread(f, content.data(), st.size), static_cast<zip_int64_t>(st.size));
    zip_fclose(f);
    out[st.name] = content;
  }
  return out;
}

TEST(PackageCsv, QuotesEveryFieldAndDoublesQuotes) {
  EXPECT_EQ(csv_quote(""), "\"\"");
  EXPECT_EQ(csv_quote("B"), "\"B\"");
  EXPECT_EQ(csv_quote("say \"B\", then stop"), "\"say \"\"B\"\", then stop\"");
  EXPECT_EQ(csv_quote("line 1\nline 2\r\nline 3"), "\"line 1\nline 2\r\nline 3\"");
  EXPECT_EQ(csv_quote("\"\""), "\"\"\"\"\"\"");
}

TEST(PackageCsv, KeepsNonAsciiAndReplacesInvalidUtf8) {
  const std::string text = "Ménière’s disease: 梅尼埃病 — β-blocker 💊";
  EXPECT_EQ(csv_quote(text), "\"" + text + "\"");
  // A multi-byte character cut by the token budget, a stray continuation byte, an overlong
  // encoding of '/', a UTF-16 surrogate.
  EXPECT_EQ(csv_quote("ab\xE2\x80"), "\"ab\xEF\xBF\xBD\xEF\xBF\xBD\"");
  EXPECT_EQ(csv_quote("\x80x"), "\"\xEF\xBF\xBDx\"");
  EXPECT_EQ(csv_quote("\xC0\xAF"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");
  EXPECT_EQ(csv_quote("\xED\xA0\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
}

TEST(PackageCsv, RowsRoundTripWithDefaults) {
  std::vector<ItemRecord> items;
  ItemRecord a = sample_item("m", "d", 0);
  a.item_id = "q,1";
  a.prediction = "Give \"dexamethasone\",\nthen reassess";
  a.choice = "B";
  a.trace =
      R"([{"role":"user","content":"Q?\nA) x, B) \"y\""},{"role":"assistant","content":"B"}])";
  items.push_back(a);
  ItemRecord b = sample_item("m", "d", 1);
  b.prediction = "";
  b.choice = "";
  b.trace = "";
  items.push_back(b);
  ItemRecord c = sample_item("m", "d", 2);
  c.question_type = "open_ended";
  c.prediction = "Lisinopril 10 mg daily — ACE-Hemmer für Ménière";
  c.choice = "NOTAVALUE";
  items.push_back(c);

  const Rows rows = parse_quoted_csv(submission_csv(items));
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"id", "prediction", "choice", "reasoning"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{a.item_id, a.prediction, "B", a.trace}));
  EXPECT_EQ(rows[2],
            (std::vector<std::string>{b.item_id, "No prediction available", "NOTAVALUE", "[]"}));
  EXPECT_EQ(rows[3], (std::vector<std::string>{c.item_id, c.prediction, "NOTAVALUE", c.trace}));
}

TEST(PackageMeta, AverageTokensPerQuestion) {
  EXPECT_EQ(average_tokens_per_question({}), 0);
  ItemRecord a, b, c;
  a.prompt_tokens = 100;
  a.output_tokens = {50, 4};  // two turns
  b.prompt_tokens = 80;
  b.output_tokens = {};  // loglik
  c.prompt_tokens = 90;
  c.output_tokens = {30};
  EXPECT_DOUBLE_EQ(average_tokens_per_question({a, b, c}), (154.0 + 80.0 + 120.0) / 3.0);
}

class PackageRun : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = RunStore::open(run_dir());
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE(
        store->put_model({.name = "tiny", .path = "/models/tiny.gguf", .strategy = "quantize:q8"}));
    ASSERT_TRUE(store->put_model({.name = "idle", .path = "/models/idle.gguf"}));
    for (int i = 0; i < 5; ++i) {
      ItemRecord r = sample_item("tiny", "cure_val", i);
      if (i == 3) {
        r.prediction = "";
        r.choice = "";
      }
      ASSERT_TRUE(store->record_item(r)) << i;
    }
    ASSERT_TRUE(store->record_item(sample_item("other", "medqa", 0)));
    ASSERT_TRUE(store->record_item(sample_item("other", "mmlu", 0)));
  }
  std::filesystem::path run_dir() const { return std::filesystem::path(scratch_.path()) / "run"; }
  std::filesystem::path zip() const { return std::filesystem::path(scratch_.path()) / "sub.zip"; }

  testing::ScratchDir scratch_;
};

TEST_F(PackageRun, ZipHoldsExactlyTwoFilesAtTheRoot) {
  auto store = RunStore::open(run_dir());
  ASSERT_TRUE(store);
  auto s = write_submission(*store, "tiny", {}, zip());
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->items, 5);
  EXPECT_EQ(s->dataset, "cure_val");
  EXPECT_EQ(s->no_prediction, 1);
  EXPECT_EQ(s->notavalue, 1);

  const auto entries = read_zip(zip());
  ASSERT_EQ(entries.size(), 2u);
  ASSERT_TRUE(entries.count("submission.csv"));
  ASSERT_TRUE(entries.count("meta_data.json"));

  auto items = store->items({.model = "tiny", .dataset = "cure_val"});
  ASSERT_TRUE(items);
  EXPECT_EQ(entries.at("submission.csv"), submission_csv(*items));
  const Rows rows = parse_quoted_csv(entries.at("submission.csv"));
  ASSERT_EQ(rows.size(), 6u);
  for (size_t i = 1; i < rows.size(); ++i) {
    const ItemRecord& r = (*items)[i - 1];
    EXPECT_EQ(rows[i][0], r.item_id);
    EXPECT_EQ(rows[i][1], r.prediction.empty() ? "No prediction available" : r.prediction);
    EXPECT_EQ(rows[i][2], r.choice.empty() ? "NOTAVALUE" : r.choice);
    EXPECT_EQ(rows[i][3], r.trace);
  }

  const auto meta = nlohmann::json::parse(entries.at("meta_data.json"));
  ASSERT_TRUE(meta.is_object());
  std::vector<std::string> keys;
  for (const auto& [k, v] : meta.items()) {
    keys.push_back(k);
    EXPECT_FALSE(v.is_object() || v.is_array()) << k << " is not flat";
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"additional_info", "average_tokens_per_question",
                                            "base_model_name", "base_model_type", "dataset",
                                            "model_name", "model_type", "track"}));
  EXPECT_EQ(meta["model_name"], "tiny");
  EXPECT_EQ(meta["model_type"], PackageOptions{}.model_type);
  EXPECT_EQ(meta["track"], "internal_reasoning");
  EXPECT_EQ(meta["base_model_type"], "OpenWeighted");
  EXPECT_EQ(meta["base_model_name"], "tiny");
  EXPECT_EQ(meta["dataset"], "cure_val");
  EXPECT_NE(meta["additional_info"].get<std::string>().find("quantize:q8"), std::string::npos);
  // sample_item i: prompt 100 + i, outputs {40 + i, 3}.
  double expected = 0;
  for (int i = 0; i < 5; ++i) expected += (100 + i) + (40 + i) + 3;
  EXPECT_DOUBLE_EQ(meta["average_tokens_per_question"].get<double>(), expected / 5);
}

TEST_F(PackageRun, OptionsFillMetaData) {
  auto store = RunStore::open(run_dir());
  ASSERT_TRUE(store);
  PackageOptions po;
  po.model_type = "LlamaCppWrapper";
  po.base_model_name = "Qwen2-7B-Instruct";
  po.additional_info = "q8 recipe, greedy";
  po.dataset = "medqa";
  auto s = write_submission(*store, "other", po, zip());
  ASSERT_TRUE(s) << s.error().message;
  const auto meta = nlohmann::json::parse(read_zip(zip()).at("meta_data.json"));
  EXPECT_EQ(meta["model_type"], "LlamaCppWrapper");
  EXPECT_EQ(meta["base_model_name"], "Qwen2-7B-Instruct");
  EXPECT_EQ(meta["additional_info"], "q8 recipe, greedy");
  EXPECT_EQ(meta["dataset"], "medqa");
  EXPECT_EQ(s->items, 1);
}

TEST_F(PackageRun, SamePackageTwiceGivesTheSameBytes) {
  auto store = RunStore::open(run_dir());
  ASSERT_TRUE(store);
  ASSERT_TRUE(write_submission(*store, "tiny", {}, zip()));
  const std::string first = testing::read_file(zip().string());
  ASSERT_TRUE(write_submission(*store, "tiny", {}, zip()));
  EXPECT_EQ(testing::read_file(zip().string()), first);
}

TEST_F(PackageRun, UnknownModelListsTheKnownOnes) {
  auto store = RunStore::open(run_dir());
  ASSERT_TRUE(store);
  auto s = write_submission(*store, "nope", {}, zip());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  EXPECT_NE(s.error().message.find("unknown model 'nope'"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("idle, other, tiny"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("run.db"), std::string::npos) << s.error().message;
  EXPECT_FALSE(std::filesystem::exists(zip()));
}

TEST_F(PackageRun, ModelWithoutItemsIsAnError) {
  auto store = RunStore::open(run_dir());
  ASSERT_TRUE(store);
  auto s = write_submission(*store, "idle", {}, zip());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  EXPECT_NE(s.error().message.find("no items"), std::string::npos) << s.error().message;
}

TEST_F(PackageRun, SeveralDatasetsNeedAChoice) {
  auto store = RunStore::open(run_dir());
  ASSERT_TRUE(store);
  auto s = write_submission(*store, "other", {}, zip());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message.find("medqa, mmlu"), std::string::npos) << s.error().message;
  PackageOptions po;
  po.dataset = "pubmedqa";
  s = write_submission(*store, "other", po, zip());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  EXPECT_NE(s.error().message.find("medqa, mmlu"), std::string::npos) << s.error().message;
}

TEST_F(PackageRun, UnwritableDestinationLeavesNoTemporaryFile) {
  auto store = RunStore::open(run_dir());
  ASSERT_TRUE(store);
  const auto target = std::filesystem::path(scratch_.path()) / "no_such_dir" / "sub.zip";
  auto s = write_submission(*store, "tiny", {}, target);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kIo);
  EXPECT_NE(s.error().message.find("no_such_dir"), std::string::npos) << s.error().message;
  // A target the rename cannot replace (a directory): the error names it and the temporary
  // file is gone.
  std::filesystem::create_directory(zip());
  s = write_submission(*store, "tiny", {}, zip());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kIo);
  EXPECT_NE(s.error().message.find("sub.zip"), std::string::npos) << s.error().message;
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(scratch_.path())) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"run", "sub.zip"}));
  EXPECT_TRUE(std::filesystem::is_directory(zip()));
}

}  // namespace
}  // namespace clinbench
