#include "store/schema.h"

#include <fmt/format.h>

#include <array>

#include "clinbench/store.h"
#include "store/sqlite_db.h"

namespace clinbench::store {
namespace {

// Each entry is one migration; never edit a released one, append a new one. The units and
// meaning of every column are in docs/run-directory.md.
constexpr std::array<const char*, 2> kMigrations = {
    // 1: metadata, models, items.
    R"sql(
PRAGMA application_id = 1129074242;

CREATE TABLE schema_version (
  version INTEGER PRIMARY KEY,
  applied_at TEXT NOT NULL
);

CREATE TABLE metadata (
  key TEXT PRIMARY KEY NOT NULL CHECK (key <> ''),
  value TEXT NOT NULL CHECK (json_valid(value)),
  updated_at TEXT NOT NULL
);

CREATE TABLE models (
  name TEXT PRIMARY KEY NOT NULL CHECK (name <> ''),
  path TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  strategy TEXT NOT NULL,
  attempt_log TEXT NOT NULL CHECK (json_valid(attempt_log) AND json_type(attempt_log) IN ('object', 'array')),
  updated_at TEXT NOT NULL
);

CREATE TABLE items (
  model TEXT NOT NULL CHECK (model <> ''),
  dataset TEXT NOT NULL CHECK (dataset <> ''),
  item_id TEXT NOT NULL CHECK (item_id <> ''),
  seq INTEGER NOT NULL UNIQUE,
  split TEXT NOT NULL,
  question_type TEXT NOT NULL,
  scoring TEXT NOT NULL,
  prompt_tokens INTEGER NOT NULL CHECK (prompt_tokens >= 0),
  output_tokens TEXT NOT NULL CHECK (json_valid(output_tokens) AND json_type(output_tokens) = 'array'),
  reasoning_chars INTEGER NOT NULL CHECK (reasoning_chars >= 0),
  reasoning_tokens INTEGER NOT NULL CHECK (reasoning_tokens >= 0),
  ttft_ms REAL CHECK (ttft_ms >= 0),
  prefill_ms REAL NOT NULL CHECK (prefill_ms >= 0),
  decode_ms REAL NOT NULL CHECK (decode_ms >= 0),
  tokens_per_s REAL CHECK (tokens_per_s >= 0),
  choice TEXT NOT NULL,
  prediction TEXT NOT NULL,
  correct_answer TEXT,
  correct INTEGER CHECK (correct IN (0, 1)),
  extraction_rule TEXT NOT NULL,
  truncated INTEGER NOT NULL CHECK (truncated IN (0, 1)),
  error TEXT NOT NULL,
  trace TEXT NOT NULL,
  extra TEXT NOT NULL CHECK (json_valid(extra)),
  finished_at TEXT NOT NULL,
  PRIMARY KEY (model, dataset, item_id)
);
)sql",
    // 2: each item's energy (joules; null where no meter could be read).
    R"sql(
ALTER TABLE items ADD COLUMN energy_j REAL CHECK (energy_j >= 0);
)sql",
};

static_assert(kMigrations.size() == static_cast<size_t>(kRunStoreSchemaVersion),
              "kRunStoreSchemaVersion must equal the number of migrations");
static_assert(kApplicationId == 1129074242, "migration 1 writes kApplicationId literally");

}  // namespace

Result<int> inspect_schema(sqlite3* db, const std::string& file) {
  // The first read of the file is where SQLite notices a file that is not a database.
  auto not_a_database = [](Error error) {
    if (error.code == ErrorCode::kCorrupt) {
      error.message += "; it is not a SQLite database clinbench can read, and was left untouched";
    }
    return std::unexpected(std::move(error));
  };
  auto tables = Statement::prepare(
      db, file, "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'");
  if (!tables) return not_a_database(tables.error());
  if (auto row = tables->step(); !row) return not_a_database(row.error());
  const int64_t table_count = tables->column_int(0);

  auto app = Statement::prepare(db, file, "PRAGMA application_id");
  if (!app) return std::unexpected(app.error());
  if (auto app_row = app->step(); !app_row) return std::unexpected(app_row.error());
  const int64_t application_id = app->column_int(0);

  if (table_count == 0 && application_id == 0) return 0;  // new or empty database
  if (application_id != kApplicationId) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("{}: not a clinbench run database (application_id {:#x}, "
                                  "{} tables); it was left untouched",
                                  file, application_id, table_count));
  }
  auto version = Statement::prepare(db, file, "SELECT max(version) FROM schema_version");
  if (!version) {
    Error error = version.error();
    error.code = ErrorCode::kCorrupt;
    error.message += "; the clinbench run database has no schema version, it was left untouched";
    return std::unexpected(std::move(error));
  }
  if (auto version_row = version->step(); !version_row) {
    return std::unexpected(version_row.error());
  }
  if (version->is_null(0)) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("{}: the schema_version table is empty; the database was left "
                                  "untouched",
                                  file));
  }
  const int64_t current = version->column_int(0);
  if (current > kRunStoreSchemaVersion) {
    return make_error(ErrorCode::kUnsupported,
                      fmt::format("{}: schema version {} is newer than the {} this clinbench "
                                  "supports; use a newer clinbench (the file was left untouched)",
                                  file, current, kRunStoreSchemaVersion));
  }
  if (current < 1) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("{}: invalid schema version {}; the database was left untouched",
                                  file, current));
  }
  return static_cast<int>(current);
}

Result<void> migrate(sqlite3* db, const std::string& file, int from_version) {
  for (int version = from_version + 1; version <= kRunStoreSchemaVersion; ++version) {
    if (auto begun = exec(db, file, "BEGIN IMMEDIATE"); !begun) return begun;
    auto applied = exec(db, file, kMigrations[static_cast<size_t>(version - 1)]);
    if (applied) {
      auto row = Statement::prepare(db, file,
                                    "INSERT INTO schema_version (version, applied_at) "
                                    "VALUES (?1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))");
      if (!row) {
        applied = std::unexpected(row.error());
      } else {
        applied = row->bind_int(1, version).run();
      }
    }
    if (applied) applied = exec(db, file, "COMMIT");
    if (!applied) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      return std::unexpected(
          applied.error().with_context(fmt::format("migrating to schema version {}", version)));
    }
  }
  return {};
}

}  // namespace clinbench::store
