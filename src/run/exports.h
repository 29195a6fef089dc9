// The end of a run (and of a merge): the exports of the store (samples.jsonl, results.json,
// summary.md, summary.csv) and manifest.json, in that order (the manifest hashes the exports).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "clinbench/error.h"
#include "clinbench/store.h"

namespace clinbench {

// `datasets`: the per-dataset selection summary (results.json "datasets"); `inputs`: the
// manifest's inputs ({"models": {name: path}, "datasets": {name: path}, "config": path|null}).
// Returns the terminal summary table.
Result<std::string> write_run_exports(const RunStore& store, const std::filesystem::path& run_dir,
                                      const nlohmann::json& datasets, const nlohmann::json& inputs);

}  // namespace clinbench
