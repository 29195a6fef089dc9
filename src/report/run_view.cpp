// Reading a run directory for a report.
#include "report/run_view.h"

#include <fmt/format.h>

#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include "clinbench/fidelity.h"
#include "store/run_lock.h"

namespace clinbench::report {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<std::string> RunView::model_names() const {
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const auto& m : models) {
    if (seen.insert(m.name).second) names.push_back(m.name);
  }
  for (const auto& it : items) {
    if (seen.insert(it.model).second) names.push_back(it.model);
  }
  return names;
}

std::string group_label(const std::string& dataset, const std::string& split) {
  return split.empty() ? dataset : dataset + " · " + split;
}

Result<RunView> load_run(const fs::path& run_dir) {
  std::error_code ec;
  if (!fs::exists(RunPaths::db(run_dir), ec)) {
    // `clinbench fidelity --out DIR` alone makes no run: its panel needs a run directory.
    const bool fidelity_only = fs::exists(run_dir / kFidelityFile, ec);
    return make_error(
        ErrorCode::kNotFound,
        fmt::format("{}: no run.db: not a run directory{}", run_dir.string(),
                    fidelity_only ? " (fidelity.json is drawn in the report of a run directory: "
                                    "give that directory to clinbench fidelity --out)"
                                  : ""));
  }
  // Whether a run holds the directory is read before the items: a run that ends in between is
  // then reported as running, never the other way round.
  const std::optional<pid_t> running = store::lock_holder(run_dir);
  auto store = RunStore::open_for_reading(run_dir);
  if (!store) return std::unexpected(store.error());
  RunView view;
  view.dir = run_dir;
  view.running_pid = running;
  auto items = store->items();
  if (!items) return std::unexpected(items.error());
  view.items = std::move(*items);
  auto models = store->models();
  if (!models) return std::unexpected(models.error());
  view.models = std::move(*models);
  auto meta = store->all_metadata();
  if (!meta) return std::unexpected(meta.error());
  view.metadata = std::move(*meta);
  for (const auto& m : view.models) {
    json log = json::parse(m.attempt_log, nullptr, false);
    if (log.is_discarded()) {
      return make_error(ErrorCode::kCorrupt, fmt::format("{}: model '{}': attempt_log is not JSON",
                                                         RunPaths::db(run_dir).string(), m.name));
    }
    if (log.is_object()) log = log.empty() ? json::array() : json::array({log});
    view.attempt_logs.push_back(std::move(log));
  }
  view.results = compute_results(view.items);
  const json datasets = view.metadata.contains("datasets") ? view.metadata["datasets"] : json();
  view.results_json = results_json(view.results, datasets);
  load_fidelity(run_dir / kFidelityFile, view);
  return view;
}

void load_fidelity(const fs::path& path, RunView& run) {
  run.fidelity = nullptr;
  run.fidelity_problem.clear();
  std::error_code ec;
  if (!fs::exists(path, ec)) return;
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) {
    run.fidelity_problem = fmt::format("{}: cannot be read", path.string());
    return;
  }
  json doc = json::parse(text.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    run.fidelity_problem = fmt::format("{}: not a JSON object", path.string());
    return;
  }
  const std::string format = doc.value("format", std::string());
  if (format != kFidelityFormat) {
    run.fidelity_problem =
        fmt::format("{}: format '{}', expected '{}'", path.string(), format, kFidelityFormat);
    return;
  }
  run.fidelity = std::move(doc);
}

}  // namespace clinbench::report
