#include "run/exports.h"

#include <fmt/format.h>

#include "clinbench/provenance.h"
#include "clinbench/results.h"
#include "util/atomic_file.h"

namespace clinbench {

namespace fs = std::filesystem;
using nlohmann::json;

Result<std::string> write_run_exports(const RunStore& store, const fs::path& run_dir,
                                      const json& datasets, const json& inputs) {
  auto items = store.items();
  if (!items) return std::unexpected(items.error());
  if (auto r = store.export_samples_jsonl(RunPaths::samples(run_dir)); !r) {
    return std::unexpected(r.error());
  }
  RunResults results = compute_results(*items);
  json rj = results_json(results, datasets);
  auto meta = store.all_metadata();
  if (!meta) return std::unexpected(meta.error());
  rj["metadata"] = *meta;
  auto ms = store.models();
  if (!ms) return std::unexpected(ms.error());
  json models = json::array();
  for (const auto& m : *ms) {
    // Stored attempt logs are checked on write: one that does not parse was edited by hand.
    json log = json::parse(m.attempt_log, nullptr, false);
    if (log.is_discarded()) {
      return make_error(ErrorCode::kCorrupt,
                        fmt::format("{}: the attempt log of model '{}' is not valid JSON",
                                    RunPaths::db(run_dir).string(), m.name));
    }
    models.push_back({{"name", m.name},
                      {"path", m.path},
                      {"sha256", m.sha256},
                      {"strategy", m.strategy},
                      {"attempt_log", std::move(log)}});
  }
  rj["models"] = models;
  const std::pair<fs::path, std::string> files[] = {
      {RunPaths::results(run_dir), rj.dump(2, ' ', false, json::error_handler_t::replace) + "\n"},
      {run_dir / "summary.md", summary_markdown(results)},
      {run_dir / "summary.csv", summary_csv(results)},
  };
  for (const auto& [path, text] : files) {
    if (auto r = write_file_atomically(path, text); !r) return std::unexpected(r.error());
  }
  if (auto r = write_manifest(store, run_dir, inputs); !r) return std::unexpected(r.error());
  return summary_table(results);
}

}  // namespace clinbench
