// RunStore: opening and creating, bad run.db files, items, metadata, models, counts.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cmath>
#include <limits>
#include <string>

#include "clinbench/store.h"
#include "store_test_util.h"

namespace clinbench {
namespace {

using store_test::read_file;
using store_test::sample_item;
using store_test::ScratchDir;
using store_test::write_file;
using namespace std::string_literals;

// Runs a query on run.db through a separate connection (the store must be closed) and returns
// the first column of the first row as text.
std::string query_text(const std::filesystem::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  std::string out;
  if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

void exec_sql(const std::filesystem::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(
      sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
      SQLITE_OK);
  char* message = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message), SQLITE_OK)
      << (message ? message : "");
  sqlite3_free(message);
  sqlite3_close(db);
}

// --- open ------------------------------------------------------------------------------------

TEST(StoreOpen, CreatesDirectoryDatabaseAndLock) {
  ScratchDir dir;
  const auto run_dir = dir.path() / "a" / "b" / "run";
  {
    auto store = RunStore::open(run_dir);
    ASSERT_TRUE(store) << store.error().message;
    EXPECT_EQ(store->run_dir(), run_dir);
    EXPECT_TRUE(std::filesystem::is_regular_file(RunPaths::db(run_dir)));
    EXPECT_EQ(read_file(RunPaths::lock(run_dir)), std::to_string(getpid()) + "\n");
    auto count = store->item_count();
    ASSERT_TRUE(count);
    EXPECT_EQ(*count, 0);
    EXPECT_TRUE(store->integrity_check());
  }
  const auto db = RunPaths::db(run_dir);
  EXPECT_EQ(query_text(db, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query_text(db, "PRAGMA application_id"), "1129074242");
  EXPECT_EQ(query_text(db, "SELECT max(version) FROM schema_version"),
            std::to_string(kRunStoreSchemaVersion));
  EXPECT_EQ(query_text(db,
                       "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master "
                       "WHERE type = 'table' ORDER BY name)"),
            "items,metadata,models,schema_version");
}

TEST(StoreOpen, SynchronousFollowsTheOption) {
  ScratchDir dir;
  {
    auto store = RunStore::open(dir.run_dir());
    ASSERT_TRUE(store) << store.error().message;
    EXPECT_EQ(*store->pragma("journal_mode"), "wal");
    EXPECT_EQ(*store->pragma("synchronous"), "1");  // NORMAL
  }
  {
    auto store = RunStore::open(dir.run_dir(), RunStoreOptions{.sync_each_item = true});
    ASSERT_TRUE(store) << store.error().message;
    EXPECT_EQ(*store->pragma("synchronous"), "2");  // FULL
    auto bad = store->pragma("synchronous = OFF");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(*store->pragma("synchronous"), "2");
  }
}

TEST(StoreOpen, ReopenKeepsEverythingAndDoesNotMigrateAgain) {
  ScratchDir dir;
  {
    auto store = RunStore::open(dir.run_dir());
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE(store->record_item(sample_item("m", "d", 1)));
    ASSERT_TRUE(store->set_metadata("config", {{"limit", 100}}));
  }
  {
    auto store = RunStore::open(dir.run_dir());
    ASSERT_TRUE(store) << store.error().message;
    EXPECT_EQ(*store->item_count(), 1);
    EXPECT_EQ(*store->metadata("config"), nlohmann::json({{"limit", 100}}));
  }
  EXPECT_EQ(query_text(RunPaths::db(dir.run_dir()), "SELECT count(*) FROM schema_version"),
            std::to_string(kRunStoreSchemaVersion));
}

TEST(StoreOpen, AVersion1DatabaseMigratesAndKeepsItsItemsWithoutEnergy) {
  ScratchDir dir;
  {
    auto store = RunStore::open(dir.run_dir());
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE(store->record_item(sample_item("m", "d", 1)));
  }
  // Back to what a clinbench before migration 2 wrote.
  const auto db = RunPaths::db(dir.run_dir());
  exec_sql(db,
           "ALTER TABLE items DROP COLUMN energy_j; DELETE FROM schema_version WHERE version = 2");
  ASSERT_EQ(query_text(db, "SELECT max(version) FROM schema_version"), "1");
  auto store = RunStore::open(dir.run_dir());
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ(query_text(db, "SELECT max(version) FROM schema_version"), "2");
  auto got = store->item("m", "d", sample_item("m", "d", 1).item_id);
  ASSERT_TRUE(got && got->has_value()) << (got ? "absent" : got.error().message);
  EXPECT_FALSE((*got)->energy_j);
  ItemRecord with_energy = sample_item("m", "d", 2);
  with_energy.energy_j = 4.5;
  ASSERT_TRUE(store->record_item(with_energy));
  got = store->item("m", "d", with_energy.item_id);
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->energy_j, 4.5);
}

TEST(StoreOpen, RunDirThatIsAFileIsAnError) {
  ScratchDir dir;
  write_file(dir.run_dir(), "not a directory");
  auto store = RunStore::open(dir.run_dir());
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::kIo);
  EXPECT_NE(store.error().message.find(dir.run_dir().string()), std::string::npos);
}

// Files that are not SQLite databases: short, long, and with a truncated SQLite header.
std::string garbage_file(int kind) {
  switch (kind) {
    case 0:
      return "garbage";
    case 1: {
      std::string text;
      for (int i = 0; i < 600; ++i) {
        text += fmt::format("line {} of a file that is no database\n", i);
      }
      return text;
    }
    default:
      return std::string("SQLite format 3") + std::string(200, '\x7f');
  }
}

class StoreBadDatabase : public ::testing::TestWithParam<int> {};

TEST_P(StoreBadDatabase, GarbageIsReportedAndLeftUntouched) {
  ScratchDir dir;
  std::filesystem::create_directories(dir.run_dir());
  const auto db = RunPaths::db(dir.run_dir());
  const std::string garbage = garbage_file(GetParam());
  write_file(db, garbage);
  auto store = RunStore::open(dir.run_dir());
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::kCorrupt) << store.error().message;
  EXPECT_NE(store.error().message.find(db.string()), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find("untouched"), std::string::npos) << store.error().message;
  EXPECT_EQ(read_file(db), garbage);
  EXPECT_FALSE(std::filesystem::exists(db.string() + "-wal"));
  // The failed open released the lock: a second try reports the same problem, not the lock.
  auto again = RunStore::open(dir.run_dir());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kCorrupt) << again.error().message;
}

INSTANTIATE_TEST_SUITE_P(StoreFiles, StoreBadDatabase, ::testing::Values(0, 1, 2));

TEST(StoreOpen, ForeignSqliteDatabaseIsRefused) {
  ScratchDir dir;
  std::filesystem::create_directories(dir.run_dir());
  const auto db = RunPaths::db(dir.run_dir());
  exec_sql(db, "CREATE TABLE patients (id INTEGER); INSERT INTO patients VALUES (1);");
  const std::string before = read_file(db);
  auto store = RunStore::open(dir.run_dir());
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(store.error().message.find("not a clinbench run database"), std::string::npos)
      << store.error().message;
  EXPECT_EQ(read_file(db), before);
}

TEST(StoreOpen, NewerSchemaIsRefusedAndLeftUntouched) {
  ScratchDir dir;
  {
    auto store = RunStore::open(dir.run_dir());
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE(store->record_item(sample_item("m", "d", 1)));
  }
  const auto db = RunPaths::db(dir.run_dir());
  exec_sql(db, "INSERT INTO schema_version (version, applied_at) VALUES (99, 'future')");
  // Checkpoint so that run.db alone holds the content the comparison reads.
  exec_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  const std::string before = read_file(db);
  auto store = RunStore::open(dir.run_dir());
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(store.error().message.find("schema version 99"), std::string::npos)
      << store.error().message;
  EXPECT_NE(store.error().message.find(db.string()), std::string::npos);
  EXPECT_EQ(read_file(db), before);
  EXPECT_EQ(query_text(db, "SELECT count(*) FROM items"), "1");
}

// --- items -----------------------------------------------------------------------------------

TEST(StoreItems, RecordAndReadBackEveryField) {
  ScratchDir dir;
  auto store = RunStore::open(dir.run_dir());
  ASSERT_TRUE(store) << store.error().message;

  ItemRecord full = sample_item("llama-3-8b", "curebench_val", 7);
  full.trace = "turn 1\n\xff\xfe bad utf-8 and a NUL \0 inside"s;
  full.extra = {{"logprobs", {-0.5, -1.25}}, {"grammar", true}};

  ItemRecord sparse;  // loglik, unlabeled, open_ended-ish: every optional absent
  sparse.model = "llama-3-8b";
  sparse.dataset = "curebench_test";
  sparse.item_id = "x-1";
  sparse.question_type = "open_ended";
  sparse.scoring = "loglik";
  sparse.choice = "NOTAVALUE";
  sparse.error = "decode failed";
  sparse.truncated = true;
  sparse.extra = nullptr;

  ASSERT_TRUE(store->record_item(full));
  ASSERT_TRUE(store->record_item(sparse));

  auto got = store->item("llama-3-8b", "curebench_val", full.item_id);
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->seq, 1);
  EXPECT_EQ((*got)->finished_at.size(), std::string("2025-01-31T12:34:56.789Z").size());
  EXPECT_EQ((*got)->finished_at.back(), 'Z');
  full.seq = (*got)->seq;
  full.finished_at = (*got)->finished_at;
  EXPECT_EQ(**got, full);

  got = store->item("llama-3-8b", "curebench_test", "x-1");
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->seq, 2);
  EXPECT_FALSE((*got)->ttft_ms);
  EXPECT_FALSE((*got)->tokens_per_s);
  EXPECT_FALSE((*got)->energy_j);
  EXPECT_FALSE((*got)->correct_answer);
  EXPECT_FALSE((*got)->correct);
  EXPECT_TRUE((*got)->output_tokens.empty());
  sparse.seq = (*got)->seq;
  sparse.finished_at = (*got)->finished_at;
  EXPECT_EQ(**got, sparse);

  got = store->item("llama-3-8b", "curebench_val", "absent");
  ASSERT_TRUE(got);
  EXPECT_FALSE(got->has_value());
}

TEST(StoreItems, UnlabeledItemHasNullCorrectInTheDatabase) {
  ScratchDir dir;
  {
    auto store = RunStore::open(dir.run_dir());
    ASSERT_TRUE(store);
    ItemRecord r = sample_item("m", "test", 1);
    r.correct_answer.reset();
    r.correct.reset();
    ASSERT_TRUE(store->record_item(r));
  }
  EXPECT_EQ(query_text(RunPaths::db(dir.run_dir()),
                       "SELECT typeof(correct) || ',' || typeof(correct_answer) FROM items"),
            "null,null");
}

TEST(StoreItems, FinishedKeysArePerModelAndDataset) {
  ScratchDir dir;
  auto store = RunStore::open(dir.run_dir());
  ASSERT_TRUE(store);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store->record_item(sample_item("m1", "d1", i)));
  ASSERT_TRUE(store->record_item(sample_item("m1", "d2", 9)));
  ASSERT_TRUE(store->record_item(sample_item("m2", "d1", 5)));

  auto keys = store->finished_keys("m1", "d1");
  ASSERT_TRUE(keys);
  EXPECT_EQ(*keys, (std::set<std::string>{"q00000", "q00001", "q00002"}));
  EXPECT_EQ(*store->finished_keys("m1", "d2"), (std::set<std::string>{"q00009"}));
  EXPECT_EQ(*store->finished_keys("m2", "d1"), (std::set<std::string>{"q00005"}));
  EXPECT_TRUE(store->finished_keys("m3", "d1")->empty());
}

TEST(StoreItems, DuplicateKeyIsAnErrorAndKeepsTheFirstRow) {
  ScratchDir dir;
  auto store = RunStore::open(dir.run_dir());
  ASSERT_TRUE(store);
  ItemRecord first = sample_item("m", "d", 1);
  ASSERT_TRUE(store->record_item(first));

  ItemRecord again = first;
  again.choice = "E";
  again.prediction = "a different answer";
  auto result = store->record_item(again);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
  const std::string& message = result.error().message;
  EXPECT_NE(message.find("already recorded"), std::string::npos) << message;
  EXPECT_NE(message.find("\"q00001\""), std::string::npos) << message;
  EXPECT_NE(message.find("run.db"), std::string::npos) << message;

  EXPECT_EQ(*store->item_count(), 1);
  auto stored = store->item("m", "d", "q00001");
  ASSERT_TRUE(stored && stored->has_value());
  EXPECT_EQ((*stored)->choice, first.choice);
  EXPECT_EQ((*stored)->prediction, first.prediction);
  // The same id under another dataset or model is a different key.
  EXPECT_TRUE(store->record_item(sample_item("m", "d-other", 1)));
  EXPECT_TRUE(store->record_item(sample_item("m-other", "d", 1)));
  // The failed insert did not consume a seq.
  EXPECT_EQ((*store->item("m", "d-other", "q00001"))->seq, 2);
}

TEST(StoreItems, InvalidRecordsAreRejectedWithTheField) {
  ScratchDir dir;
  auto store = RunStore::open(dir.run_dir());
  ASSERT_TRUE(store);
  struct Case {
    const char* what;
    void (*mutate)(ItemRecord&);
  };
  const Case cases[] = {
      {"model is empty", [](ItemRecord& r) { r.model.clear(); }},
      {"dataset is empty", [](ItemRecord& r) { r.dataset.clear(); }},
      {"item_id is empty", [](ItemRecord& r) { r.item_id.clear(); }},
      {"prompt_tokens", [](ItemRecord& r) { r.prompt_tokens = -1; }},
      {"output_tokens[1]",
       [](ItemRecord& r) {
         r.output_tokens = {3, -2};
       }},
      {"reasoning_chars", [](ItemRecord& r) { r.reasoning_chars = -5; }},
      {"reasoning_tokens", [](ItemRecord& r) { r.reasoning_tokens = -5; }},
      {"ttft_ms", [](ItemRecord& r) { r.ttft_ms = std::nan(""); }},
      {"prefill_ms", [](ItemRecord& r) { r.prefill_ms = -1; }},
      {"decode_ms", [](ItemRecord& r) { r.decode_ms = std::numeric_limits<double>::infinity(); }},
      {"tokens_per_s",
       [](ItemRecord& r) { r.tokens_per_s = std::numeric_limits<double>::infinity(); }},
      {"energy_j", [](ItemRecord& r) { r.energy_j = -0.5; }},
      {"energy_j", [](ItemRecord& r) { r.energy_j = std::nan(""); }},
      {"correct_answer is missing", [](ItemRecord& r) { r.correct_answer.reset(); }},
  };
  for (const Case& c : cases) {
    ItemRecord r = sample_item("m", "d", 1);
    c.mutate(r);
    auto result = store->record_item(r);
    ASSERT_FALSE(result) << c.what;
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument) << c.what;
    EXPECT_NE(result.error().message.find(c.what), std::string::npos) << result.error().message;
  }
  EXPECT_EQ(*store->item_count(), 0);
}

TEST(StoreItems, ItemsAreOrderedByModelDatasetAndFinishOrder) {
  ScratchDir dir;
  auto store = RunStore::open(dir.run_dir());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->record_item(sample_item("m2", "d", 3)));
  ASSERT_TRUE(store->record_item(sample_item("m1", "d", 9)));
  ASSERT_TRUE(store->record_item(sample_item("m1", "d", 2)));
  ASSERT_TRUE(store->record_item(sample_item("m1", "c", 5)));

  auto all = store->items();
  ASSERT_TRUE(all);
  std::vector<std::string> order;
  for (const auto& r : *all) order.push_back(r.model + "/" + r.dataset + "/" + r.item_id);
  EXPECT_EQ(order,
            (std::vector<std::string>{"m1/c/q00005", "m1/d/q00009", "m1/d/q00002", "m2/d/q00003"}));
  auto m1d = store->items(ItemQuery{"m1", "d"});
  ASSERT_TRUE(m1d);
  ASSERT_EQ(m1d->size(), 2u);
  EXPECT_EQ((*m1d)[0].seq, 2);
  EXPECT_EQ((*m1d)[1].seq, 3);
  EXPECT_EQ(store->items(ItemQuery{"m2", ""})->size(), 1u);
  EXPECT_EQ(store->items(ItemQuery{"", "d"})->size(), 3u);
}

TEST(StoreItems, CountsPerModelDatasetSplitAndQuestionType) {
  ScratchDir dir;
  auto store = RunStore::open(dir.run_dir());
  ASSERT_TRUE(store);
  // val multi_choice: 4 labeled items, choices A B C D against B: 1 correct; one truncated.
  for (int i = 0; i < 4; ++i) {
    ItemRecord r = sample_item("m", "cure", i);
    r.truncated = i == 3;
    ASSERT_TRUE(store->record_item(r));
  }
  // val open_ended: labeled but not scored.
  ItemRecord open = sample_item("m", "cure", 10);
  open.question_type = "open_ended";
  open.choice = "NOTAVALUE";
  open.correct.reset();
  ASSERT_TRUE(store->record_item(open));
  // test multi_choice: unlabeled, one error.
  for (int i = 20; i < 22; ++i) {
    ItemRecord r = sample_item("m", "cure", i);
    r.split = "test";
    r.correct_answer.reset();
    r.correct.reset();
    if (i == 21) r.error = "context overflow";
    ASSERT_TRUE(store->record_item(r));
  }
  auto counts = store->counts();
  ASSERT_TRUE(counts) << counts.error().message;
  const std::vector<ItemCounts> expected = {
      {"m", "cure", "test", "multi_choice", 2, 0, 0, 0, 0, 1},
      {"m", "cure", "val", "multi_choice", 4, 4, 4, 1, 1, 0},
      {"m", "cure", "val", "open_ended", 1, 1, 0, 0, 0, 0},
  };
  EXPECT_EQ(*counts, expected);
}

// --- metadata and models ---------------------------------------------------------------------

TEST(StoreMetadata, SetGetReplaceAndMissing) {
  ScratchDir dir;
  auto store = RunStore::open(dir.run_dir());
  ASSERT_TRUE(store);
  const nlohmann::json build = {{"clinbench_commit", "abc123"}, {"llama_commit", "80fb11a"}};
  ASSERT_TRUE(store->set_metadata("build", build));
  ASSERT_TRUE(store->set_metadata("hashes", {{"model.gguf", "00ff"}}));
  ASSERT_TRUE(store->set_metadata("started_at", "2025-01-31T10:00:00Z"));
  EXPECT_EQ(*store->metadata("build"), build);
  ASSERT_TRUE(store->set_metadata("build", {{"clinbench_commit", "def456"}}));
  EXPECT_EQ((*store->metadata("build"))["clinbench_commit"], "def456");

  auto missing = store->metadata("nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("\"nope\""), std::string::npos);

  auto all = store->all_metadata();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)["started_at"], "2025-01-31T10:00:00Z");

  EXPECT_FALSE(store->set_metadata("", 1));
}

TEST(StoreModels, AttemptLogIsStoredVerbatimAndReplaced) {
  ScratchDir dir;
  auto store = RunStore::open(dir.run_dir());
  ASSERT_TRUE(store);
  ModelRecord m;
  m.name = "qwen2-7b";
  m.path = "/models/qwen2-7b-f16.gguf";
  m.sha256 = std::string(64, 'a');
  m.strategy = "quantize:q4";
  // A clinbench.attempt_log/1 object (docs/attempt-log.md); spacing and key order as the
  // loading layer wrote them must survive.
  m.attempt_log =
      R"({"format": "clinbench.attempt_log/1", "model_path": "/models/qwen2-7b-f16.gguf",)"
      R"( "succeeded": 1, "strategy": "quantize:q4", "attempts": [)"
      R"({"strategy":"native", "outcome":"skipped", "reason": "plan exceeds the budget"},)"
      R"( {"strategy":"quantize:q4","outcome":"ok","init_ms":5230.5} ]})";
  ASSERT_TRUE(store->put_model(m));
  auto got = store->model("qwen2-7b");
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->attempt_log, m.attempt_log);
  EXPECT_FALSE((*got)->updated_at.empty());
  m.updated_at = (*got)->updated_at;
  EXPECT_EQ(**got, m);

  ModelRecord failed;
  failed.name = "gemma-2-9b";
  failed.path = "/models/gemma.gguf";
  // A bare array of attempts is accepted too.
  failed.attempt_log = R"([{"strategy":"cpu","outcome":"crashed","reason":"SIGKILL"}])";
  ASSERT_TRUE(store->put_model(failed));
  m.strategy = "offload";
  ASSERT_TRUE(store->put_model(m));
  auto all = store->models();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "gemma-2-9b");
  EXPECT_EQ((*all)[0].strategy, "");
  EXPECT_EQ((*all)[1].strategy, "offload");

  EXPECT_FALSE(store->model("absent")->has_value());

  ModelRecord bad = m;
  for (const char* log : {R"("native")", "42", "null", "", R"({"attempts": [)"}) {
    bad.attempt_log = log;
    auto result = store->put_model(bad);
    ASSERT_FALSE(result) << log;
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(result.error().message.find("attempt_log is not a JSON object or array"),
              std::string::npos)
        << result.error().message;
  }
  bad.name.clear();
  bad.attempt_log = "{}";
  EXPECT_FALSE(store->put_model(bad));
  // The rejected writes left the stored record as it was.
  EXPECT_EQ((*store->model("qwen2-7b"))->attempt_log, m.attempt_log);
}

}  // namespace
}  // namespace clinbench

namespace clinbench {
namespace {

// Reading (a report of a run, possibly still going) refuses what it cannot read and writes
// nothing to it.
TEST(StoreReading, ForeignOrNewerDatabasesAreRefusedUntouched) {
  using store_test::ScratchDir;
  ScratchDir foreign;
  std::filesystem::create_directories(foreign.run_dir());
  const auto fdb = RunPaths::db(foreign.run_dir());
  exec_sql(fdb, "CREATE TABLE patients (id INTEGER);");
  const std::string fbefore = store_test::read_file(fdb);
  auto f = RunStore::open_for_reading(foreign.run_dir());
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(f.error().message.find("not a clinbench run database"), std::string::npos)
      << f.error().message;
  EXPECT_EQ(store_test::read_file(fdb), fbefore);

  ScratchDir garbage;
  std::filesystem::create_directories(garbage.run_dir());
  store_test::write_file(RunPaths::db(garbage.run_dir()), "not sqlite at all");
  auto g = RunStore::open_for_reading(garbage.run_dir());
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find(RunPaths::db(garbage.run_dir()).string()), std::string::npos)
      << g.error().message;
  EXPECT_EQ(store_test::read_file(RunPaths::db(garbage.run_dir())), "not sqlite at all");

  ScratchDir newer;
  {
    auto store = RunStore::open(newer.run_dir());
    ASSERT_TRUE(store) << store.error().message;
  }
  const auto ndb = RunPaths::db(newer.run_dir());
  exec_sql(ndb, "INSERT INTO schema_version (version, applied_at) VALUES (99, 'future')");
  exec_sql(ndb, "PRAGMA wal_checkpoint(TRUNCATE)");
  const std::string nbefore = store_test::read_file(ndb);
  auto n = RunStore::open_for_reading(newer.run_dir());
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code, ErrorCode::kUnsupported);
  EXPECT_EQ(store_test::read_file(ndb), nbefore);
}

}  // namespace
}  // namespace clinbench
