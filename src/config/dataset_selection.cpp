#include "config/dataset_selection.h"

#include <fmt/format.h>

#include "clinbench/select.h"

namespace clinbench {

Result<SelectedDataset> select_dataset(const DatasetConfig& dc, bool strict,
                                       const std::optional<std::pair<int, int>>& shard) {
  ReadOptions rdo;
  if (dc.format != "auto") {
    auto f = dataset_format_from_string(dc.format);
    if (!f) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("dataset '{}': unknown format '{}'", dc.name, dc.format));
    }
    rdo.format = *f;
  }
  rdo.split = dc.split;
  rdo.strict = strict;
  auto ds = read_dataset(dc.path, rdo);
  if (!ds) return std::unexpected(ds.error().with_context(fmt::format("dataset '{}'", dc.name)));
  SelectedDataset out;
  out.items = select_subset(ds->items, dc.limit, dc.seed);
  if (shard) {
    std::vector<Item> mine;
    for (auto& it : out.items) {
      if (in_shard(it.id, shard->first, shard->second)) mine.push_back(std::move(it));
    }
    out.items = std::move(mine);
  }
  out.dataset = std::move(*ds);
  return out;
}

}  // namespace clinbench
