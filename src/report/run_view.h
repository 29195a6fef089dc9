// A run directory read once for a report: its stored items, models and metadata, and the results
// computed from them by the same code that writes results.json.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
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

  // Model names in report order: the models table, then any name that only items carry.
  std::vector<std::string> model_names() const;
};

// Reads run_dir/run.db. kNotFound without run.db (RunStore::open would create one); kResource
// while a running process holds the directory.
Result<RunView> load_run(const std::filesystem::path& run_dir);

// "dataset · split", or the dataset alone when the split is unknown.
std::string group_label(const std::string& dataset, const std::string& split);

}  // namespace clinbench::report
