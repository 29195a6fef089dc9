// A run directory read once for a report: its stored items, models and metadata, and the results
// computed from them by the same code that writes results.json.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "clinbench/error.h"
#include "clinbench/results.h"
#include "clinbench/store.h"

namespace clinbench::report {

struct RunView {
  std::filesystem::path dir;
  std::vector<ItemRecord> items;    // RunStore::items() order
  std::vector<ModelRecord> models;  // by name
  // One entry per model (same order): its stored attempt log parsed, always a JSON array of
  // clinbench.attempt_log/1 objects (a stored object becomes a one-element array).
  std::vector<nlohmann::json> attempt_logs;
  nlohmann::json metadata = nlohmann::json::object();  // RunStore::all_metadata()
  RunResults results;
  // results_json(results, metadata["datasets"]): the arrays of results.json, key for key.
  nlohmann::json results_json;
  // RUN_DIR/fidelity.json (`clinbench fidelity ... --out RUN_DIR`, docs/fidelity.md) as written:
  // null when the file is absent or unreadable; fidelity_problem then says why when it exists.
  nlohmann::json fidelity;
  std::string fidelity_problem;
  // A run still going when it was read (a process held the directory's lock): its PID (0 when
  // unknown). The items are those recorded by then.
  std::optional<pid_t> running_pid;

  // Model names in report order: the models table, then any name that only items carry.
  std::vector<std::string> model_names() const;
};

// Reads run_dir/run.db, and run_dir/fidelity.json when there is one (a fidelity.json that cannot
// be read is a panel's message, not an error). kNotFound without run.db (the message says so
// when fidelity.json is there alone). A run still going is read as far as it got
// (RunStore::open_for_reading), and running_pid says so.
Result<RunView> load_run(const std::filesystem::path& run_dir);

// Reads the fidelity.json at `path` into run.fidelity (or run.fidelity_problem): absent, not
// JSON, or another format than clinbench.fidelity/1.
void load_fidelity(const std::filesystem::path& path, RunView& run);

// "dataset · split", or the dataset alone when the split is unknown.
std::string group_label(const std::string& dataset, const std::string& split);

}  // namespace clinbench::report
