#include "run/run_exports.h"

#include <fmt/format.h>

#include <fstream>

#include "clinbench/provenance.h"
#include "clinbench/results.h"

namespace clinbench {

namespace fs = std::filesystem;
using nlohmann::json;

Result<void> write_text_atomic(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) return make_error(ErrorCode::kIo, fmt::format("{}: cannot write", tmp.string()));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return make_error(ErrorCode::kIo, fmt::format("{}: {}", path.string(), ec.message()));
  return {};
}

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
  if (meta) rj["metadata"] = *meta;
  json models = json::array();
  if (auto ms = store.models()) {
    for (const auto& m : *ms) {
      models.push_back({{"name", m.name},
                        {"path", m.path},
                        {"sha256", m.sha256},
                        {"strategy", m.strategy},
                        {"attempt_log", json::parse(m.attempt_log, nullptr, false)}});
    }
  }
  rj["models"] = models;
  if (auto r = write_text_atomic(RunPaths::results(run_dir),
                                 rj.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
      !r) {
    return std::unexpected(r.error());
  }
  (void)write_text_atomic(run_dir / "summary.md", summary_markdown(results));
  (void)write_text_atomic(run_dir / "summary.csv", summary_csv(results));
  if (auto r = write_manifest(store, run_dir, inputs); !r) return std::unexpected(r.error());
  return summary_table(results);
}

}  // namespace clinbench
