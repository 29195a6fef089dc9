// The run store: the source of truth of a run directory (docs/run-directory.md).
//
// A run directory holds run.db, a SQLite database in WAL mode with one row per finished
// (model, dataset, item) written in its own transaction, so a run killed at any moment (SIGKILL
// included) and started again on the same directory resumes with every item exactly once.
// samples.jsonl and results.json are exports of run.db, rewritten atomically.
//
// Contract:
// - One RunStore per run directory per process, used from one thread at a time. RunStore::open
//   takes an exclusive flock on run_dir/lock and writes its PID there; a second open of the same
//   directory, from another process or from this one, fails with ErrorCode::kResource and a
//   message that names the directory and the PID holding it. The lock goes away with the
//   RunStore or with the process, however it dies.
// - Do not use a RunStore in a child after fork(); open a new one there after the parent's is
//   gone. The lock descriptor is close-on-exec, so exec'd workers do not hold the lock.
// - Every fallible call returns a Result; nothing throws. Errors name the file and what was
//   wrong.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "clinbench/error.h"
#include "clinbench/record.h"

namespace clinbench {

// Paths inside a run directory. Only the store writes run.db, lock and samples.jsonl; the run's
// exports (run/exports.cpp) write results.json and the summaries, provenance manifest.json.
struct RunPaths {
  static std::filesystem::path db(const std::filesystem::path& run_dir) {
    return run_dir / "run.db";
  }
  static std::filesystem::path lock(const std::filesystem::path& run_dir) {
    return run_dir / "lock";
  }
  static std::filesystem::path samples(const std::filesystem::path& run_dir) {
    return run_dir / "samples.jsonl";
  }
  static std::filesystem::path results(const std::filesystem::path& run_dir) {
    return run_dir / "results.json";
  }
  static std::filesystem::path manifest(const std::filesystem::path& run_dir) {
    return run_dir / "manifest.json";
  }
  static std::filesystem::path attempts(const std::filesystem::path& run_dir) {
    return run_dir / "attempts";
  }
};

// The schema version this build writes and reads. Opening a run.db of a newer version fails
// with ErrorCode::kUnsupported and leaves the file untouched; older versions are migrated.
inline constexpr int kRunStoreSchemaVersion = 2;

// A model of the run and how it was loaded.
struct ModelRecord {
  std::string name;                // key, non-empty
  std::string path;                // the GGUF as given
  std::string sha256;              // lowercase hex of the file ("" when not hashed)
  std::string strategy;            // the strategy that loaded it ("" when none did)
  std::string attempt_log = "{}";  // the loading layer's attempt log (docs/attempt-log.md):
                                   // a JSON object or array, stored verbatim
  std::string updated_at;          // set by the store

  bool operator==(const ModelRecord&) const = default;
};

// Counts for one model × dataset × split × question_type, as written to results.json.
struct ItemCounts {
  std::string model;
  std::string dataset;
  std::string split;
  std::string question_type;
  int64_t total = 0;      // items recorded
  int64_t labeled = 0;    // with correct_answer
  int64_t scored = 0;     // with correct set (true or false)
  int64_t correct = 0;    // with correct == true
  int64_t truncated = 0;  // with truncated
  int64_t errors = 0;     // with a non-empty error

  bool operator==(const ItemCounts&) const = default;
};

// Restricts items(); an empty field matches everything.
struct ItemQuery {
  std::string model;
  std::string dataset;
};

// Options of RunStore::open; defaults here only.
struct RunStoreOptions {
  // false (synchronous=NORMAL): a recorded item survives the process being killed in any way
  // (SIGKILL, OOM killer); a power loss or kernel crash keeps the database consistent but may
  // roll back the last items, which a resumed run evaluates again. true (synchronous=FULL):
  // every commit also fsyncs the WAL, so recorded items survive a power loss too, at one fsync
  // per item (3.5 ms against 0.17 ms per item on the development VM's ext4; more on spinning
  // or network disks), which would weigh on fast loglik scoring.
  bool sync_each_item = false;
};

class RunStore {
 public:
  // Opens run_dir, creating it and run.db when missing, and takes the directory's lock.
  // Fails, touching nothing in run.db, when another RunStore holds the lock (kResource), when
  // run.db is not a SQLite database or not a clinbench run database (kCorrupt), or when its
  // schema is newer than kRunStoreSchemaVersion (kUnsupported).
  static Result<RunStore> open(const std::filesystem::path& run_dir,
                               const RunStoreOptions& options = {});
  // Opens an existing run directory for reading only, without its lock, so that a run still
  // going can be read (a report of it so far): SQLite's WAL gives this reader the items
  // committed when each query starts. Nothing is created or migrated, and every write call
  // fails. kNotFound without run.db; kUnsupported for a schema other than this build's.
  static Result<RunStore> open_for_reading(const std::filesystem::path& run_dir);

  RunStore(RunStore&&) noexcept;
  RunStore& operator=(RunStore&&) noexcept;
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;
  ~RunStore();  // closes run.db, then releases the lock
  // A moved-from RunStore may only be destroyed or assigned to.

  const std::filesystem::path& run_dir() const;

  // --- metadata: key -> JSON (provenance, config, hashes, build, host, times) ---------------
  // Inserts or replaces. REQUIRES: key non-empty.
  Result<void> set_metadata(std::string_view key, const nlohmann::json& value);
  // kNotFound when the key is absent.
  Result<nlohmann::json> metadata(std::string_view key) const;
  // Every key, as one JSON object.
  Result<nlohmann::json> all_metadata() const;

  // --- models --------------------------------------------------------------------------------
  // Inserts or replaces the record named record.name. attempt_log must be a JSON object or array;
  // it is stored byte for byte. To keep a previous attempt log on resume, read it with model() and
  // merge before calling.
  Result<void> put_model(const ModelRecord& record);
  // nullopt when no model has that name.
  Result<std::optional<ModelRecord>> model(std::string_view name) const;
  // Ordered by name.
  Result<std::vector<ModelRecord>> models() const;

  // --- items ---------------------------------------------------------------------------------
  // Records one finished item in its own transaction; when this returns, the item survives a
  // SIGKILL of the process (and a power loss with sync_each_item). Recording a key that is
  // already present is an error (kInvalidArgument, naming the key) and leaves the stored row
  // unchanged: a resumed run must skip finished_keys(). Invalid records (empty key, negative
  // counts, non-finite times, correct without correct_answer) are kInvalidArgument.
  Result<void> record_item(const ItemRecord& record);
  // The item ids of (model, dataset) already recorded: the ones a resumed run skips.
  Result<std::set<std::string>> finished_keys(std::string_view model,
                                              std::string_view dataset) const;
  // nullopt when the key is not recorded.
  Result<std::optional<ItemRecord>> item(std::string_view model, std::string_view dataset,
                                         std::string_view item_id) const;
  // Ordered by model, dataset, then seq (the order they finished).
  Result<std::vector<ItemRecord>> items(const ItemQuery& query = {}) const;
  Result<int64_t> item_count() const;
  // Ordered by model, dataset, split, question_type.
  Result<std::vector<ItemCounts>> counts() const;

  // --- exports (atomic: a temporary file in the same directory, fsync, rename) ------------
  // One JSON object per line per item, keys as in ItemRecord, in items() order.
  Result<void> export_samples_jsonl(const std::filesystem::path& path) const;

  // SQLite's PRAGMA integrity_check: ok, or kCorrupt with what it reported.
  Result<void> integrity_check() const;
  // The value of a SQLite PRAGMA on this connection, as text (diagnostics and tests:
  // "journal_mode" -> "wal", "synchronous" -> "1" (NORMAL) or "2" (FULL)). kInvalidArgument
  // unless name is lowercase letters and underscores.
  Result<std::string> pragma(std::string_view name) const;

 private:
  struct Impl;
  explicit RunStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The samples.jsonl object of one item, keys in ItemRecord order. Dump it with
// error_handler_t::replace: model output may hold invalid UTF-8, which the exports write as
// U+FFFD.
nlohmann::ordered_json item_to_json(const ItemRecord& record);

}  // namespace clinbench
