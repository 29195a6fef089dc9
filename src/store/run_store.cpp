// RunStore: opening a run directory, metadata, models and items. Exports are in
// store_export.cpp.
#include <fmt/format.h>

#include <cmath>
#include <system_error>
#include <utility>

#include "clinbench/store.h"
#include "store/run_lock.h"
#include "store/run_store_impl.h"
#include "store/schema.h"
#include "store/sqlite_db.h"

namespace clinbench {

using store::Statement;

namespace {

constexpr const char* kNow = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

// Column list shared by every item query; read_item() reads them in this order.
constexpr const char* kItemColumns =
    "model, dataset, item_id, seq, split, question_type, scoring, prompt_tokens, output_tokens, "
    "reasoning_chars, reasoning_tokens, ttft_ms, prefill_ms, decode_ms, tokens_per_s, choice, "
    "prediction, correct_answer, correct, extraction_rule, truncated, error, trace, extra, "
    "finished_at, energy_j";

std::string describe_key(std::string_view model, std::string_view dataset,
                         std::string_view item_id) {
  return fmt::format("item (model \"{}\", dataset \"{}\", id \"{}\")", model, dataset, item_id);
}

Result<void> validate(const ItemRecord& r) {
  const std::string key = describe_key(r.model, r.dataset, r.item_id);
  auto invalid = [&](std::string_view what) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("{}: {}", key, what));
  };
  if (r.model.empty()) return invalid("model is empty");
  if (r.dataset.empty()) return invalid("dataset is empty");
  if (r.item_id.empty()) return invalid("item_id is empty");
  if (r.prompt_tokens < 0) return invalid(fmt::format("prompt_tokens {} < 0", r.prompt_tokens));
  for (size_t i = 0; i < r.output_tokens.size(); ++i) {
    if (r.output_tokens[i] < 0) {
      return invalid(fmt::format("output_tokens[{}] {} < 0", i, r.output_tokens[i]));
    }
  }
  if (r.reasoning_chars < 0) return invalid("reasoning_chars < 0");
  if (r.reasoning_tokens < 0) return invalid("reasoning_tokens < 0");
  auto check_time = [&](std::string_view name, double value) -> Result<void> {
    if (!std::isfinite(value) || value < 0) {
      return invalid(fmt::format("{} is {}; it must be finite and >= 0", name, value));
    }
    return {};
  };
  if (r.ttft_ms) {
    if (auto ok = check_time("ttft_ms", *r.ttft_ms); !ok) return ok;
  }
  if (auto ok = check_time("prefill_ms", r.prefill_ms); !ok) return ok;
  if (auto ok = check_time("decode_ms", r.decode_ms); !ok) return ok;
  if (r.tokens_per_s) {
    if (auto ok = check_time("tokens_per_s", *r.tokens_per_s); !ok) return ok;
  }
  if (r.energy_j) {
    if (auto ok = check_time("energy_j", *r.energy_j); !ok) return ok;
  }
  if (r.correct && !r.correct_answer) {
    return invalid("correct is set but correct_answer is missing (unlabeled items are not scored)");
  }
  return {};
}

std::string dump_json(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<ItemRecord> read_item(const Statement& s, const std::string& file) {
  ItemRecord r;
  r.model = s.column_text(0);
  r.dataset = s.column_text(1);
  r.item_id = s.column_text(2);
  r.seq = s.column_int(3);
  r.split = s.column_text(4);
  r.question_type = s.column_text(5);
  r.scoring = s.column_text(6);
  r.prompt_tokens = s.column_int(7);
  const std::string output_tokens = s.column_text(8);
  r.reasoning_chars = s.column_int(9);
  r.reasoning_tokens = s.column_int(10);
  r.ttft_ms = s.column_optional_double(11);
  r.prefill_ms = s.column_double(12);
  r.decode_ms = s.column_double(13);
  r.tokens_per_s = s.column_optional_double(14);
  r.choice = s.column_text(15);
  r.prediction = s.column_text(16);
  r.correct_answer = s.column_optional_text(17);
  if (!s.is_null(18)) r.correct = s.column_int(18) != 0;
  r.extraction_rule = s.column_text(19);
  r.truncated = s.column_int(20) != 0;
  r.error = s.column_text(21);
  r.trace = s.column_text(22);
  const std::string extra = s.column_text(23);
  r.finished_at = s.column_text(24);
  r.energy_j = s.column_optional_double(25);

  auto corrupt = [&](std::string_view what) {
    return make_error(
        ErrorCode::kCorrupt,
        fmt::format("{}: {}: {}", file, describe_key(r.model, r.dataset, r.item_id), what));
  };
  const auto tokens = nlohmann::json::parse(output_tokens, nullptr, false);
  if (tokens.is_discarded() || !tokens.is_array()) {
    return corrupt("output_tokens is not a JSON array");
  }
  for (const auto& t : tokens) {
    if (!t.is_number_integer()) return corrupt("output_tokens holds a non-integer");
    r.output_tokens.push_back(t.get<int64_t>());
  }
  r.extra = nlohmann::json::parse(extra, nullptr, false);
  if (r.extra.is_discarded()) return corrupt("extra is not valid JSON");
  return r;
}

ModelRecord read_model(const Statement& s) {
  ModelRecord m;
  m.name = s.column_text(0);
  m.path = s.column_text(1);
  m.sha256 = s.column_text(2);
  m.strategy = s.column_text(3);
  m.attempt_log = s.column_text(4);
  m.updated_at = s.column_text(5);
  return m;
}

}  // namespace

// --- open --------------------------------------------------------------------------------------

Result<RunStore> RunStore::open(const std::filesystem::path& run_dir,
                                const RunStoreOptions& options) {
  if (run_dir.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "run directory: the path is empty");
  }
  std::error_code ec;
  std::filesystem::create_directories(run_dir, ec);
  if (ec || !std::filesystem::is_directory(run_dir, ec)) {
    return make_error(ErrorCode::kIo,
                      fmt::format("run directory {}: cannot create it: {}", run_dir.string(),
                                  ec ? ec.message() : "a file of that name exists"));
  }
  // The lock comes first, so a second process never opens run.db at all.
  auto lock = store::RunLock::acquire(run_dir);
  if (!lock) return std::unexpected(lock.error());

  const std::string file = RunPaths::db(run_dir).string();
  auto db = store::open_database(file);
  if (!db) return std::unexpected(db.error());

  // Inspect before any write: a garbage file or a newer schema is reported, not overwritten.
  auto version = store::inspect_schema(db->get(), file);
  if (!version) return std::unexpected(version.error());

  // WAL: a commit appends to run.db-wal; readers and a crash never see half a transaction.
  {
    auto mode = Statement::prepare(db->get(), file, "PRAGMA journal_mode = WAL");
    if (!mode) return std::unexpected(mode.error());
    auto row = mode->step();
    if (!row) return std::unexpected(row.error());
    if (!*row || mode->column_text(0) != "wal") {
      return make_error(ErrorCode::kIo,
                        fmt::format("{}: cannot switch to WAL mode (journal_mode is \"{}\")", file,
                                    *row ? mode->column_text(0) : std::string()));
    }
  }
  // synchronous: see RunStoreOptions. In WAL mode both settings keep run.db consistent; they
  // differ in whether the last commits survive a power loss.
  const char* pragmas = options.sync_each_item
                            ? "PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000;"
                            : "PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000;";
  if (auto ok = store::exec(db->get(), file, pragmas); !ok) return std::unexpected(ok.error());
  if (auto migrated = store::migrate(db->get(), file, *version); !migrated) {
    return std::unexpected(migrated.error());
  }
  auto impl = std::make_unique<Impl>(Impl{run_dir, file, std::move(*lock), std::move(*db)});
  return RunStore(std::move(impl));
}

Result<RunStore> RunStore::open_for_reading(const std::filesystem::path& run_dir) {
  const std::string file = RunPaths::db(run_dir).string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    return make_error(ErrorCode::kNotFound,
                      fmt::format("{}: no run.db: not a run directory", run_dir.string()));
  }
  auto db = store::open_database(file, /*read_only=*/true);
  if (!db) return std::unexpected(db.error());
  auto version = store::inspect_schema(db->get(), file);
  if (!version) return std::unexpected(version.error());
  if (*version != kRunStoreSchemaVersion) {
    return make_error(
        ErrorCode::kUnsupported,
        fmt::format("{}: schema version {}, this build reads version {} (resuming the run with "
                    "this build migrates it)",
                    file, *version, kRunStoreSchemaVersion));
  }
  if (auto ok = store::exec(db->get(), file, "PRAGMA busy_timeout = 10000;"); !ok) {
    return std::unexpected(ok.error());
  }
  auto impl = std::make_unique<Impl>(Impl{run_dir, file, std::nullopt, std::move(*db)});
  return RunStore(std::move(impl));
}

RunStore::RunStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RunStore::RunStore(RunStore&&) noexcept = default;
RunStore& RunStore::operator=(RunStore&&) noexcept = default;
RunStore::~RunStore() = default;

const std::filesystem::path& RunStore::run_dir() const { return impl_->run_dir; }

// --- metadata ----------------------------------------------------------------------------------

Result<void> RunStore::set_metadata(std::string_view key, const nlohmann::json& value) {
  if (key.empty()) {
    return make_error(ErrorCode::kInvalidArgument, impl_->file + ": metadata key is empty");
  }
  auto s = Statement::prepare(
      impl_->db.get(), impl_->file,
      fmt::format("INSERT OR REPLACE INTO metadata (key, value, updated_at) VALUES (?1, ?2, {})",
                  kNow));
  if (!s) return std::unexpected(s.error());
  return s->bind_text(1, key).bind_text(2, dump_json(value)).run();
}

Result<nlohmann::json> RunStore::metadata(std::string_view key) const {
  auto s =
      Statement::prepare(impl_->db.get(), impl_->file, "SELECT value FROM metadata WHERE key = ?1");
  if (!s) return std::unexpected(s.error());
  auto row = s->bind_text(1, key).step();
  if (!row) return std::unexpected(row.error());
  if (!*row) {
    return make_error(ErrorCode::kNotFound,
                      fmt::format("{}: no metadata key \"{}\"", impl_->file, key));
  }
  auto value = nlohmann::json::parse(s->column_text(0), nullptr, false);
  if (value.is_discarded()) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("{}: metadata \"{}\" is not valid JSON", impl_->file, key));
  }
  return value;
}

Result<nlohmann::json> RunStore::all_metadata() const {
  auto s = Statement::prepare(impl_->db.get(), impl_->file,
                              "SELECT key, value FROM metadata ORDER BY key");
  if (!s) return std::unexpected(s.error());
  nlohmann::json all = nlohmann::json::object();
  for (;;) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    const std::string key = s->column_text(0);
    auto value = nlohmann::json::parse(s->column_text(1), nullptr, false);
    if (value.is_discarded()) {
      return make_error(ErrorCode::kCorrupt,
                        fmt::format("{}: metadata \"{}\" is not valid JSON", impl_->file, key));
    }
    all[key] = std::move(value);
  }
  return all;
}

// --- models ------------------------------------------------------------------------------------

Result<void> RunStore::put_model(const ModelRecord& record) {
  if (record.name.empty()) {
    return make_error(ErrorCode::kInvalidArgument, impl_->file + ": model name is empty");
  }
  const auto log = nlohmann::json::parse(record.attempt_log, nullptr, false);
  if (log.is_discarded() || !(log.is_object() || log.is_array())) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("{}: model \"{}\": attempt_log is not a JSON object or array",
                                  impl_->file, record.name));
  }
  auto s = Statement::prepare(
      impl_->db.get(), impl_->file,
      fmt::format("INSERT OR REPLACE INTO models (name, path, sha256, strategy, attempt_log, "
                  "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, {})",
                  kNow));
  if (!s) return std::unexpected(s.error());
  return s->bind_text(1, record.name)
      .bind_text(2, record.path)
      .bind_text(3, record.sha256)
      .bind_text(4, record.strategy)
      .bind_text(5, record.attempt_log)
      .run();
}

Result<std::optional<ModelRecord>> RunStore::model(std::string_view name) const {
  auto s = Statement::prepare(
      impl_->db.get(), impl_->file,
      "SELECT name, path, sha256, strategy, attempt_log, updated_at FROM models WHERE name = ?1");
  if (!s) return std::unexpected(s.error());
  auto row = s->bind_text(1, name).step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<ModelRecord>();
  return std::optional<ModelRecord>(read_model(*s));
}

Result<std::vector<ModelRecord>> RunStore::models() const {
  auto s = Statement::prepare(
      impl_->db.get(), impl_->file,
      "SELECT name, path, sha256, strategy, attempt_log, updated_at FROM models ORDER BY name");
  if (!s) return std::unexpected(s.error());
  std::vector<ModelRecord> out;
  for (;;) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.push_back(read_model(*s));
  }
}

// --- items -------------------------------------------------------------------------------------

Result<void> RunStore::record_item(const ItemRecord& r) {
  if (auto valid = validate(r); !valid) return std::unexpected(valid.error());
  nlohmann::json tokens = nlohmann::json::array();
  for (int64_t t : r.output_tokens) tokens.push_back(t);

  // A single INSERT is its own transaction: the row, with its seq, is there in full or not at
  // all, whatever moment the process dies.
  auto s = Statement::prepare(
      impl_->db.get(), impl_->file,
      fmt::format("INSERT INTO items ({}) VALUES (?1, ?2, ?3, "
                  "(SELECT coalesce(max(seq), 0) + 1 FROM items), ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                  "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, {}, ?24)",
                  kItemColumns, kNow));
  if (!s) return std::unexpected(s.error());
  s->bind_text(1, r.model)
      .bind_text(2, r.dataset)
      .bind_text(3, r.item_id)
      .bind_text(4, r.split)
      .bind_text(5, r.question_type)
      .bind_text(6, r.scoring)
      .bind_int(7, r.prompt_tokens)
      .bind_text(8, dump_json(tokens))
      .bind_int(9, r.reasoning_chars)
      .bind_int(10, r.reasoning_tokens)
      .bind_optional_double(11, r.ttft_ms)
      .bind_double(12, r.prefill_ms)
      .bind_double(13, r.decode_ms)
      .bind_optional_double(14, r.tokens_per_s)
      .bind_text(15, r.choice)
      .bind_text(16, r.prediction)
      .bind_optional_text(17, r.correct_answer);
  if (r.correct) {
    s->bind_int(18, *r.correct ? 1 : 0);
  } else {
    s->bind_null(18);
  }
  s->bind_text(19, r.extraction_rule)
      .bind_int(20, r.truncated ? 1 : 0)
      .bind_text(21, r.error)
      .bind_text(22, r.trace)
      .bind_text(23, dump_json(r.extra))
      .bind_optional_double(24, r.energy_j);
  auto inserted = s->run();
  if (!inserted && inserted.error().code == ErrorCode::kInvalidArgument) {
    auto existing = item(r.model, r.dataset, r.item_id);
    if (existing && *existing) {
      return make_error(
          ErrorCode::kInvalidArgument,
          fmt::format("{}: {} is already recorded (seq {}, finished {}); a resumed run must skip "
                      "the keys of finished_keys()",
                      impl_->file, describe_key(r.model, r.dataset, r.item_id), (*existing)->seq,
                      (*existing)->finished_at));
    }
  }
  return inserted;
}

Result<std::set<std::string>> RunStore::finished_keys(std::string_view model,
                                                      std::string_view dataset) const {
  auto s = Statement::prepare(impl_->db.get(), impl_->file,
                              "SELECT item_id FROM items WHERE model = ?1 AND dataset = ?2");
  if (!s) return std::unexpected(s.error());
  s->bind_text(1, model).bind_text(2, dataset);
  std::set<std::string> keys;
  for (;;) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return keys;
    keys.insert(s->column_text(0));
  }
}

Result<std::optional<ItemRecord>> RunStore::item(std::string_view model, std::string_view dataset,
                                                 std::string_view item_id) const {
  auto s = Statement::prepare(
      impl_->db.get(), impl_->file,
      fmt::format("SELECT {} FROM items WHERE model = ?1 AND dataset = ?2 AND item_id = ?3",
                  kItemColumns));
  if (!s) return std::unexpected(s.error());
  auto row = s->bind_text(1, model).bind_text(2, dataset).bind_text(3, item_id).step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<ItemRecord>();
  auto record = read_item(*s, impl_->file);
  if (!record) return std::unexpected(record.error());
  return std::optional<ItemRecord>(std::move(*record));
}

Result<void> RunStore::Impl::for_each_item(
    const ItemQuery& query, const std::function<Result<void>(const ItemRecord&)>& fn) const {
  auto s = Statement::prepare(
      db.get(), file,
      fmt::format("SELECT {} FROM items WHERE (?1 = '' OR model = ?1) AND (?2 = '' OR dataset = "
                  "?2) ORDER BY model, dataset, seq",
                  kItemColumns));
  if (!s) return std::unexpected(s.error());
  s->bind_text(1, query.model).bind_text(2, query.dataset);
  for (;;) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return {};
    auto record = read_item(*s, file);
    if (!record) return std::unexpected(record.error());
    if (auto ok = fn(*record); !ok) return ok;
  }
}

Result<std::vector<ItemRecord>> RunStore::items(const ItemQuery& query) const {
  std::vector<ItemRecord> out;
  auto ok = impl_->for_each_item(query, [&](const ItemRecord& r) -> Result<void> {
    out.push_back(r);
    return {};
  });
  if (!ok) return std::unexpected(ok.error());
  return out;
}

Result<int64_t> RunStore::item_count() const {
  auto s = Statement::prepare(impl_->db.get(), impl_->file, "SELECT count(*) FROM items");
  if (!s) return std::unexpected(s.error());
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  return s->column_int(0);
}

Result<std::vector<ItemCounts>> RunStore::counts() const {
  auto s = Statement::prepare(
      impl_->db.get(), impl_->file,
      "SELECT model, dataset, split, question_type, count(*), count(correct_answer), "
      "count(correct), coalesce(sum(correct), 0), sum(truncated), sum(error <> '') "
      "FROM items GROUP BY model, dataset, split, question_type "
      "ORDER BY model, dataset, split, question_type");
  if (!s) return std::unexpected(s.error());
  std::vector<ItemCounts> out;
  for (;;) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    ItemCounts c;
    c.model = s->column_text(0);
    c.dataset = s->column_text(1);
    c.split = s->column_text(2);
    c.question_type = s->column_text(3);
    c.total = s->column_int(4);
    c.labeled = s->column_int(5);
    c.scored = s->column_int(6);
    c.correct = s->column_int(7);
    c.truncated = s->column_int(8);
    c.errors = s->column_int(9);
    out.push_back(std::move(c));
  }
}

Result<void> RunStore::integrity_check() const {
  auto s = Statement::prepare(impl_->db.get(), impl_->file, "PRAGMA integrity_check");
  if (!s) return std::unexpected(s.error());
  std::string report;
  for (;;) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    if (!report.empty()) report += "; ";
    report += s->column_text(0);
  }
  if (report == "ok") return {};
  return make_error(ErrorCode::kCorrupt,
                    fmt::format("{}: integrity check failed: {}", impl_->file, report));
}

Result<std::string> RunStore::pragma(std::string_view name) const {
  const bool valid = !name.empty() && name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") ==
                                          std::string_view::npos;
  if (!valid) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("{}: \"{}\" is not a pragma name", impl_->file, name));
  }
  auto s = Statement::prepare(impl_->db.get(), impl_->file, fmt::format("PRAGMA {}", name));
  if (!s) return std::unexpected(s.error());
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::string();
  return s->column_text(0);
}

}  // namespace clinbench
