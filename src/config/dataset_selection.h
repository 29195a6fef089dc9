// The items a run evaluates from one configured dataset: read with its format and split, the
// seeded subset (limit, seed), then the shard. Shared by `run` and `merge` (which recomputes
// the unsharded selection to list gaps), so both always agree on it.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "clinbench/config.h"
#include "clinbench/dataset.h"

namespace clinbench {

struct SelectedDataset {
  Dataset dataset;          // as read (rows, issues; items before selection)
  std::vector<Item> items;  // after the subset and the shard, in file order
};

// Errors name the dataset ("dataset 'val': ...").
Result<SelectedDataset> select_dataset(const DatasetConfig& config, bool strict,
                                       const std::optional<std::pair<int, int>>& shard);

}  // namespace clinbench
