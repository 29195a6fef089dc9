// `clinbench merge OUT_DIR RUN_DIR...`: the run directories of one run's shards (`run --shard
// I/N` on several machines: a Slurm job array, a Kubernetes Indexed Job) merged into one run
// directory that report, package and verify accept like any other (docs/scale-out.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "clinbench/error.h"

namespace clinbench {

// Items of a (model, dataset) that the configured selection holds and no run directory has.
struct MergeGap {
  std::string model;
  std::string dataset;
  std::vector<std::string> item_ids;
};

struct MergeOutcome {
  int64_t items = 0;                        // items in the merged directory
  std::vector<MergeGap> gaps;               // empty when every selected item is there
  std::vector<std::string> missing_shards;  // "1/3": shards of N that no run directory was
  std::vector<std::string> warnings;        // gaps not checked (dataset unreadable here), inputs
                                            // not hashed, shards of one model loaded differently
  std::string summary;                      // the terminal summary table
  bool complete() const { return gaps.empty() && missing_shards.empty(); }
};

// Merges run_dirs into out_dir, which must not exist or be an empty directory. The run
// directories must have been written by `clinbench run` with the same models, datasets
// (name, format, split, limit, seed), prompts and decoding; they may differ in paths, shard
// and machine. Errors (nothing is written): fewer than one run directory, out_dir not empty or
// among the inputs, a directory that is not a run directory or is locked by a running process,
// configs that differ (naming the key), shards of different N or a shard given twice, and any
// item present in two run directories (kInvalidArgument, listing up to ten with both
// directories). Gaps are not errors: they are listed in the outcome and in results.json's
// metadata "merge".
Result<MergeOutcome> merge_runs(const std::filesystem::path& out_dir,
                                const std::vector<std::filesystem::path>& run_dirs);

}  // namespace clinbench
