// The CURE-Bench submission package: CSV quoting, the zip read back with libzip, meta_data.json,
// errors.
#include "clinbench/package.h"

#include <gtest/gtest.h>
#include <zip.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clinbench/provenance.h"
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

// A CURE-Bench JSONL line of a valid multi_choice item.
std::string dataset_line(const std::string& id) {
  return R"({"id": ")" + id +
         R"(", "question_type": "multi_choice", "question": "Which?", "options": {"A": "x", )"
         R"("B": "y"}, "correct_answer": "B"})"
         "\n";
}

// Records what `clinbench run` records about one dataset: the config's entry (path, format,
// split, limit, seed) and the input hashes at run start.
void record_dataset(RunStore& store, const std::string& name, const std::filesystem::path& path,
                    std::optional<size_t> limit = std::nullopt) {
  nlohmann::json entry = {{"name", name}, {"path", path.string()}, {"format", "auto"},
                          {"split", ""},  {"limit", nullptr},      {"seed", 0}};
  if (limit) entry["limit"] = *limit;
  ASSERT_TRUE(store.set_metadata("config", {{"shard", nullptr}, {"datasets", {entry}}}));
  auto hashed = hash_inputs({{"datasets", {{name, path.string()}}}});
  ASSERT_TRUE(hashed) << hashed.error().message;
  ASSERT_TRUE(store.set_metadata(kMetadataInputs, *hashed));
}

class PackageRun : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string lines;
    for (int i = 0; i < 5; ++i) lines += dataset_line(sample_item("tiny", "cure_val", i).item_id);
    testing::write_file(dataset().string(), lines);
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
    record_dataset(*store, "cure_val", dataset());
  }
  std::filesystem::path run_dir() const { return std::filesystem::path(scratch_.path()) / "run"; }
  std::filesystem::path zip() const { return std::filesystem::path(scratch_.path()) / "sub.zip"; }
  std::filesystem::path dataset() const {
    return std::filesystem::path(scratch_.path()) / "cure_val.jsonl";
  }

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
  EXPECT_EQ(meta["additional_info"].get<std::string>().find("PARTIAL"), std::string::npos);
  EXPECT_TRUE(s->coverage.complete());
  EXPECT_EQ(s->coverage.dataset_items, 5);
  EXPECT_TRUE(s->warnings.empty());
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
  po.partial = true;  // the run recorded no dataset 'medqa': its coverage cannot be checked
  auto s = write_submission(*store, "other", po, zip());
  ASSERT_TRUE(s) << s.error().message;
  const auto meta = nlohmann::json::parse(read_zip(zip()).at("meta_data.json"));
  EXPECT_EQ(meta["model_type"], "LlamaCppWrapper");
  EXPECT_EQ(meta["base_model_name"], "Qwen2-7B-Instruct");
  EXPECT_EQ(meta["additional_info"],
            "q8 recipe, greedy; PARTIAL: coverage of the dataset not checked (the run's config "
            "has no dataset 'medqa')");
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
  EXPECT_EQ(names, (std::vector<std::string>{"cure_val.jsonl", "run", "sub.zip"}));
  EXPECT_TRUE(std::filesystem::is_directory(zip()));
}

// --- coverage: every item of the dataset, or --partial ---------------------------------------

// The fixture's dataset grown to 30 items, the first 5 recorded, as a --limit 5 run leaves it.
TEST_F(PackageRun, LimitedRunIsRefusedWithTheMissingIds) {
  std::string lines;
  for (int i = 0; i < 30; ++i) lines += dataset_line(sample_item("tiny", "cure_val", i).item_id);
  testing::write_file(dataset().string(), lines);
  auto store = RunStore::open(run_dir());
  ASSERT_TRUE(store);
  record_dataset(*store, "cure_val", dataset(), 5);
  testing::write_file(zip().string(), "an earlier package");

  auto s = write_submission(*store, "tiny", {}, zip());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kUnsupported);
  const std::string& m = s.error().message;
  EXPECT_NE(m.find("run.db: not packaged: model 'tiny' does not cover dataset 'cure_val' (" +
                   dataset().string() +
                   "): 25 of 30 items missing: no record for 25 (q00005, "
                   "q00006,"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("q00024 (and 5 more)"), std::string::npos) << m;  // the first 20 named
  EXPECT_EQ(m.find("q00025"), std::string::npos) << m;
  EXPECT_NE(m.find("the run evaluated a selection (limit = 5, seed = 0); --partial packages it "
                   "anyway"),
            std::string::npos)
      << m;
  EXPECT_EQ(testing::read_file(zip().string()), "an earlier package");

  PackageOptions po;
  po.partial = true;
  s = write_submission(*store, "tiny", po, zip());
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->items, 5);
  EXPECT_EQ(s->coverage.missing(), 25);
  ASSERT_EQ(s->warnings.size(), 1u);
  EXPECT_NE(s->warnings[0].find("partial package: model 'tiny' on dataset 'cure_val'"),
            std::string::npos)
      << s->warnings[0];
  EXPECT_NE(s->warnings[0].find("(and 5 more)"), std::string::npos) << s->warnings[0];
  const auto meta = nlohmann::json::parse(read_zip(zip()).at("meta_data.json"));
  const std::string info = meta["additional_info"];
  EXPECT_NE(info.find("; PARTIAL: 25 of 30 items of the dataset missing"), std::string::npos)
      << info;
  EXPECT_EQ(parse_quoted_csv(read_zip(zip()).at("submission.csv")).size(), 6u);

  // --info is kept and the note follows it.
  po.additional_info = "my run";
  s = write_submission(*store, "tiny", po, zip());
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(nlohmann::json::parse(read_zip(zip()).at("meta_data.json"))["additional_info"],
            "my run; PARTIAL: 25 of 30 items of the dataset missing");
}

TEST_F(PackageRun, UnfinishedModelAndSkippedRowsAreMissing) {
  // Every valid item but q00002 recorded, and two rows the reader skipped.
  std::string lines;
  for (int i = 0; i < 5; ++i) lines += dataset_line(sample_item("tiny", "cure_val", i).item_id);
  lines += "{not json\n";
  lines += dataset_line("q00000");  // a duplicate id
  testing::write_file(dataset().string(), lines);
  ASSERT_TRUE(std::filesystem::remove(run_dir() / "run.db"));
  auto store = RunStore::open(run_dir());
  ASSERT_TRUE(store);
  for (int i : {0, 1, 3, 4}) ASSERT_TRUE(store->record_item(sample_item("tiny", "cure_val", i)));
  record_dataset(*store, "cure_val", dataset());

  auto s = write_submission(*store, "tiny", {}, zip());
  ASSERT_FALSE(s);
  const std::string& m = s.error().message;
  EXPECT_NE(m.find("3 of 7 items missing: no record for 1 (q00002); 2 row(s) skipped as invalid "
                   "(" +
                   dataset().string() + ":6: "),
            std::string::npos)
      << m;
  EXPECT_NE(m.find(dataset().string() + ":7: "), std::string::npos) << m;
  EXPECT_EQ(m.find("selection"), std::string::npos) << m;  // the run had none
  EXPECT_FALSE(std::filesystem::exists(zip()));
}

TEST_F(PackageRun, ErroredItemsAreCoveredButWarned) {
  ASSERT_TRUE(std::filesystem::remove(run_dir() / "run.db"));
  auto store = RunStore::open(run_dir());
  ASSERT_TRUE(store);
  for (int i = 0; i < 5; ++i) {
    ItemRecord r = sample_item("tiny", "cure_val", i);
    if (i % 2) {
      r.error = "context overflow";
      r.prediction = "";
      r.choice = "";
    }
    ASSERT_TRUE(store->record_item(r));
  }
  record_dataset(*store, "cure_val", dataset());
  auto s = write_submission(*store, "tiny", {}, zip());
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(s->coverage.complete());
  EXPECT_EQ(s->coverage.errored_ids, (std::vector<std::string>{"q00001", "q00003"}));
  ASSERT_EQ(s->warnings.size(), 1u);
  EXPECT_EQ(s->warnings[0],
            "2 item(s) were recorded with an error and go unanswered into the package: q00001, "
            "q00003");
  EXPECT_EQ(s->no_prediction, 2);
}

TEST_F(PackageRun, DatasetThatCannotBeCheckedNeedsPartial) {
  auto store = RunStore::open(run_dir());
  ASSERT_TRUE(store);
  // Changed since the run: the ids read now may not be the run's.
  testing::write_file(dataset().string(),
                      testing::read_file(dataset().string()) + dataset_line("q99999"));
  auto s = write_submission(*store, "tiny", {}, zip());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(s.error().message.find("cannot check that model 'tiny' covers dataset 'cure_val': " +
                                   dataset().string() + " changed since the run (sha256 "),
            std::string::npos)
      << s.error().message;
  EXPECT_NE(s.error().message.find("--partial packages it without the check"), std::string::npos);
  PackageOptions po;
  po.partial = true;
  s = write_submission(*store, "tiny", po, zip());
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_FALSE(s->coverage.checked);
  const std::string info =
      nlohmann::json::parse(read_zip(zip()).at("meta_data.json"))["additional_info"];
  EXPECT_NE(info.find("; PARTIAL: coverage of the dataset not checked (" + dataset().string() +
                      " changed since the run"),
            std::string::npos)
      << info;
  ASSERT_TRUE(std::filesystem::remove(zip()));

  // Gone: named. No config recorded at all: said.
  std::filesystem::remove(dataset());
  s = write_submission(*store, "tiny", {}, zip());
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find(dataset().string()), std::string::npos) << s.error().message;
  ASSERT_TRUE(store->set_metadata("config", nullptr));
  s = write_submission(*store, "tiny", {}, zip());
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("the run recorded no config (not written by clinbench run)"),
            std::string::npos)
      << s.error().message;
  EXPECT_FALSE(std::filesystem::exists(zip()));
}

TEST_F(PackageRun, RecordsTheDatasetDoesNotHoldAreAnError) {
  // The run's hash not recorded (as before provenance), and a file without q00004.
  std::string lines;
  for (int i = 0; i < 4; ++i) lines += dataset_line(sample_item("tiny", "cure_val", i).item_id);
  testing::write_file(dataset().string(), lines);
  auto store = RunStore::open(run_dir());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set_metadata(kMetadataInputs, nlohmann::json::object()));
  PackageOptions po;
  po.partial = true;
  auto s = write_submission(*store, "tiny", po, zip());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(s.error().message.find("holds no item of 1 recorded id(s): q00004"), std::string::npos)
      << s.error().message;
}

// --- protocol: generation only, or --allow-unofficial -----------------------------------------

TEST_F(PackageRun, LoglikRunIsRefusedUnlessAllowed) {
  ASSERT_TRUE(std::filesystem::remove(run_dir() / "run.db"));
  auto store = RunStore::open(run_dir());
  ASSERT_TRUE(store);
  for (int i = 0; i < 5; ++i) {
    ItemRecord r = sample_item("tiny", "cure_val", i);
    if (i < 4) {
      r.scoring = "loglik";
      r.output_tokens = {};
      r.prediction = "";
    }
    ASSERT_TRUE(store->record_item(r));
  }
  record_dataset(*store, "cure_val", dataset());
  EXPECT_EQ(protocol_departures({sample_item("m", "d", 0)}).size(), 0u);

  auto s = write_submission(*store, "tiny", {}, zip());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(s.error().message.find(
                "run.db: not packaged: scoring = loglik for 4 of 5 items: the CURE-Bench "
                "internal-reasoning track scores generated answers; loglik runs cannot be "
                "submitted; --allow-unofficial packages it anyway"),
            std::string::npos)
      << s.error().message;
  // --partial does not stand for it.
  PackageOptions po;
  po.partial = true;
  EXPECT_FALSE(write_submission(*store, "tiny", po, zip()));
  EXPECT_FALSE(std::filesystem::exists(zip()));

  po.allow_unofficial = true;
  s = write_submission(*store, "tiny", po, zip());
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->departures.size(), 1u);
  const std::string info =
      nlohmann::json::parse(read_zip(zip()).at("meta_data.json"))["additional_info"];
  EXPECT_NE(info.find("scoring generate, loglik; UNOFFICIAL: scoring = loglik for 4 of 5 items "
                      "(--allow-unofficial)"),
            std::string::npos)
      << info;
  ASSERT_EQ(s->warnings.size(), 1u);
  EXPECT_NE(s->warnings[0].find("unofficial package: scoring = loglik"), std::string::npos);
}

TEST_F(PackageRun, EveryRefusalIsNamedAtOnce) {
  // A loglik run that misses an item: both reasons in one message.
  ASSERT_TRUE(std::filesystem::remove(run_dir() / "run.db"));
  auto store = RunStore::open(run_dir());
  ASSERT_TRUE(store);
  for (int i = 0; i < 4; ++i) {
    ItemRecord r = sample_item("tiny", "cure_val", i);
    r.scoring = "loglik";
    ASSERT_TRUE(store->record_item(r));
  }
  record_dataset(*store, "cure_val", dataset());
  auto s = write_submission(*store, "tiny", {}, zip());
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("no record for 1 (q00004); --partial packages it anyway; also "
                                   "scoring = loglik for 4 of 4 items"),
            std::string::npos)
      << s.error().message;
  PackageOptions po;
  po.partial = po.allow_unofficial = true;
  s = write_submission(*store, "tiny", po, zip());
  ASSERT_TRUE(s) << s.error().message;
  const std::string info =
      nlohmann::json::parse(read_zip(zip()).at("meta_data.json"))["additional_info"];
  EXPECT_NE(info.find("; PARTIAL: 1 of 5 items of the dataset missing; UNOFFICIAL: scoring = "
                      "loglik for 4 of 4 items (--allow-unofficial)"),
            std::string::npos)
      << info;
}

// --- fields pandas would read as missing values ------------------------------------------------

TEST(PackageCsv, MissingValueSpellingsGetATrailingSpace) {
  for (const char* na :
       {"", "NA", "N/A", "n/a", "#N/A", "#N/A N/A", "#NA", "NULL", "null", "NaN", "-NaN", "nan",
        "-nan", "None", "<NA>", "1.#IND", "-1.#IND", "1.#QNAN", "-1.#QNAN"}) {
    EXPECT_TRUE(reads_as_missing(na)) << na;
    EXPECT_EQ(missing_safe(na), std::string(na) + " ");
  }
  for (const char* text : {"na", "Na", "none", "NA ", " NA", "N/A.", "NaN%", "Null", "B"}) {
    EXPECT_FALSE(reads_as_missing(text)) << text;
    EXPECT_EQ(missing_safe(text), text);
  }
  EXPECT_EQ(submission_choice("B"), "B");
  EXPECT_EQ(submission_choice("Z"), "Z");
  for (const char* other : {"", "NA", "N/A", "None", "b", "AB", "NOTAVALUE", " B"}) {
    EXPECT_EQ(submission_choice(other), "NOTAVALUE") << other;
  }
}

// The words pandas takes for missing values, as predictions, choices and reasoning.
std::vector<std::string> missing_words() {
  return {"NA",   "N/A", "n/a",  "#N/A", "#N/A N/A", "#NA",    "NULL",    "null",    "NaN",
          "-NaN", "nan", "-nan", "None", "<NA>",     "1.#IND", "-1.#IND", "1.#QNAN", "-1.#QNAN"};
}

// pandas.read_csv with its defaults, as the official evaluator reads submission.csv, from the
// python3 CMake found (Debian's, where scripts/setup.sh installs python3-pandas): the list of
// values pandas takes for missing, then every cell as [type name, value].
nlohmann::json read_with_pandas(const std::string& csv_path) {
  const std::string script = R"(
import json, sys
import pandas
from pandas._libs.parsers import STR_NA_VALUES
df = pandas.read_csv(sys.argv[1])
cell = lambda v: [type(v).__name__, v if isinstance(v, str) else repr(v)]
print(json.dumps({"na_values": sorted(STR_NA_VALUES), "columns": list(df.columns),
                  "rows": [[cell(v) for v in row] for row in df.itertuples(index=False)]}))
)";
  auto r = testing::run_command({CLINBENCH_PYTHON3, "-c", script, csv_path});
  EXPECT_EQ(r.exit_code, 0) << CLINBENCH_PYTHON3
                            << " cannot read the CSV with pandas; scripts/setup.sh installs "
                               "Debian's python3-pandas (apt-get install python3-pandas):\n"
                            << r.err;
  if (r.exit_code != 0) return nullptr;
  return nlohmann::json::parse(r.out, nullptr, false);
}

TEST_F(PackageRun, PandasReadsEveryFieldBackAsWritten) {
  const std::vector<std::string> words = missing_words();
  std::string lines;
  for (size_t i = 0; i < words.size(); ++i) {
    lines += dataset_line(sample_item("tiny", "cure_val", static_cast<int>(i)).item_id);
  }
  testing::write_file(dataset().string(), lines);
  ASSERT_TRUE(std::filesystem::remove(run_dir() / "run.db"));
  std::vector<ItemRecord> items;
  {
    auto store = RunStore::open(run_dir());
    ASSERT_TRUE(store);
    for (size_t i = 0; i < words.size(); ++i) {
      ItemRecord r = sample_item("tiny", "cure_val", static_cast<int>(i));
      r.prediction = words[i];
      r.choice = words[(i + 1) % words.size()];
      r.trace = words[(i + 2) % words.size()];
      if (i == 0) r.choice = "B";
      ASSERT_TRUE(store->record_item(r));
      items.push_back(r);
    }
    record_dataset(*store, "cure_val", dataset());
    auto s = write_submission(*store, "tiny", {}, zip());
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->guarded, 2 * static_cast<int64_t>(words.size()));
    EXPECT_EQ(s->notavalue, static_cast<int64_t>(words.size()) - 1);
  }
  const auto csv = std::filesystem::path(scratch_.path()) / "submission.csv";
  testing::write_file(csv.string(), read_zip(zip()).at("submission.csv"));
  const nlohmann::json read = read_with_pandas(csv.string());
  ASSERT_TRUE(read.is_object()) << read.dump();

  // Every spelling this pandas takes for missing is one the package guards.
  for (const auto& na : read["na_values"]) {
    EXPECT_TRUE(reads_as_missing(na.get<std::string>())) << "pandas reads '" << na << "' as NaN";
  }
  EXPECT_EQ(read["columns"], nlohmann::json({"id", "prediction", "choice", "reasoning"}));
  ASSERT_EQ(read["rows"].size(), items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const ItemRecord& it = items[i];
    const std::vector<std::string> intended = {it.item_id, it.prediction + " ",
                                               i == 0 ? "B" : "NOTAVALUE", it.trace + " "};
    for (size_t c = 0; c < intended.size(); ++c) {
      const auto& cell = read["rows"][i][c];
      EXPECT_EQ(cell[0], "str") << "row " << i << " column " << c << " read as " << cell.dump();
      EXPECT_EQ(cell[1], intended[c]) << "row " << i << " column " << c;
    }
    // The text itself is kept: stripping the space gives what the model wrote.
    std::string prediction = read["rows"][i][1][1];
    while (!prediction.empty() && prediction.back() == ' ') prediction.pop_back();
    EXPECT_EQ(prediction, it.prediction);
  }
}

TEST_F(PackageRun, ItemIdThatReadsAsMissingIsRefused) {
  testing::write_file(dataset().string(), dataset_line("NA") + dataset_line("q1"));
  ASSERT_TRUE(std::filesystem::remove(run_dir() / "run.db"));
  auto store = RunStore::open(run_dir());
  ASSERT_TRUE(store);
  for (const char* id : {"NA", "q1"}) {
    ItemRecord r = sample_item("tiny", "cure_val", 0);
    r.item_id = id;
    ASSERT_TRUE(store->record_item(r));
  }
  record_dataset(*store, "cure_val", dataset());
  PackageOptions po;
  po.partial = po.allow_unofficial = true;  // neither stands for it
  auto s = write_submission(*store, "tiny", po, zip());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(s.error().message.find("item id 'NA' reads back as a missing value in pandas"),
            std::string::npos)
      << s.error().message;
  EXPECT_FALSE(std::filesystem::exists(zip()));
}

// --- the CLI -------------------------------------------------------------------------------------

TEST_F(PackageRun, CliFlagsPartialAndAllowUnofficial) {
  const std::string bin = testing::clinbench_binary();
  auto help = testing::run_command({bin, "package", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--partial"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("--allow-unofficial"), std::string::npos) << help.out;

  std::string lines = testing::read_file(dataset().string());
  lines += dataset_line("late");
  testing::write_file(dataset().string(), lines);
  {
    auto store = RunStore::open(run_dir());
    ASSERT_TRUE(store);
    record_dataset(*store, "cure_val", dataset());
  }
  const std::vector<std::string> cmd = {bin,        "package", run_dir().string(),
                                        "--model",  "tiny",    "--dataset",
                                        "cure_val", "-o",      zip().string()};
  auto refused = testing::run_command(cmd);
  EXPECT_EQ(refused.exit_code, 3) << refused.err;
  EXPECT_NE(refused.err.find("1 of 6 items missing: no record for 1 (late)"), std::string::npos)
      << refused.err;
  EXPECT_FALSE(std::filesystem::exists(zip()));

  auto partial = cmd;
  partial.push_back("--partial");
  auto ok = testing::run_command(partial);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.err.find("clinbench: warning: partial package: model 'tiny'"), std::string::npos)
      << ok.err;
  EXPECT_NE(ok.out.find("wrote "), std::string::npos) << ok.out;
  EXPECT_TRUE(std::filesystem::exists(zip()));
}

}  // namespace
}  // namespace clinbench
