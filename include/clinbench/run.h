// `clinbench run`: every model of a config on every dataset, one model loaded at a time through
// the loading chain, into one resumable run directory (docs/run-directory.md).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "clinbench/attempt.h"
#include "clinbench/config.h"
#include "clinbench/error.h"

namespace clinbench {

struct RunProgress {
  std::string model;
  int64_t done = 0;   // items finished for this model in this invocation
  int64_t total = 0;  // items this model had to do in this invocation
  int64_t scored = 0;
  int64_t correct = 0;
  int64_t output_tokens = 0;
  double decode_ms = 0;
  double elapsed_ms = 0;
  std::string message;  // a line to print (a model loading, done, failed), "" for ticks
};

struct RunOptions {
  Isolation isolation = Isolation::kProcess;
  std::string config_path;  // recorded in the manifest; "" for the short form
  std::function<void(const RunProgress&)> progress;
};

struct RunOutcome {
  int models_loaded = 0;
  int models_failed = 0;        // failed every strategy (recorded, the run went on)
  int64_t items_evaluated = 0;  // in this invocation
  int64_t items_resumed = 0;    // already in the store, skipped
  int64_t dataset_rows_skipped = 0;
  std::string summary;  // the terminal summary table
};

// Errors: the run directory is locked or unreadable, a dataset is unreadable (or has a bad row
// with decoding.strict), a model file is missing. A model that fails to load is not an error.
Result<RunOutcome> run_evaluation(const RunConfig& config, const RunOptions& options);

}  // namespace clinbench
