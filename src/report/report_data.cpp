// The data document of a run's report ("clinbench.report/1", docs/report.md): everything the
// page draws, computed here.
#include <fmt/format.h>

#include "clinbench/provenance.h"
#include "clinbench/report.h"
#include "clinbench/version.h"
#include "report/document.h"
#include "report/panels.h"

namespace clinbench {

using nlohmann::json;

namespace report {

namespace {

// Scalars of j as {"key": "a.b.c", "value": v} rows; arrays of scalars joined into one value.
void flatten(const json& j, const std::string& prefix, json& rows) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items())
      flatten(v, prefix.empty() ? k : fmt::format("{}.{}", prefix, k), rows);
    return;
  }
  if (j.is_array()) {
    bool scalars = true;
    for (const auto& v : j) scalars = scalars && !v.is_structured();
    if (!scalars) {
      for (std::size_t i = 0; i < j.size(); ++i)
        flatten(j[i], fmt::format("{}[{}]", prefix, i), rows);
      return;
    }
    std::string joined;
    for (const auto& v : j)
      joined += (joined.empty() ? "" : " ") + (v.is_string() ? str(v) : v.dump());
    rows.push_back({{"key", prefix}, {"value", joined}});
    return;
  }
  rows.push_back({{"key", prefix}, {"value", j}});
}

json attempts_table(const RunView& run) {
  json rows = json::array();
  for (std::size_t m = 0; m < run.models.size(); ++m) {
    int step = 0;
    for (const auto& log : run.attempt_logs[m]) {
      for (const auto& a : log.value("attempts", json::array())) {
        rows.push_back({{"model", run.models[m].name},
                        {"step", ++step},
                        {"strategy", a.value("strategy", json())},
                        {"recipe", a.value("recipe", json())},
                        {"outcome", a.value("outcome", json())},
                        {"reason", a.value("reason", json())},
                        {"peak_rss_bytes", a.value("peak_rss_bytes", json())},
                        {"peak_device_bytes", a.value("peak_device_bytes", json())},
                        {"init_ms", a.value("init_ms", json())},
                        {"wall_ms", a.value("wall_ms", json())},
                        {"exit_code", a.value("exit_code", json())},
                        {"signal", a.value("signal", json())},
                        {"log_tail", a.value("log_tail", json())}});
      }
    }
  }
  return {
      {"id", "attempts"},
      {"title", "Attempt log"},
      {"description",
       "Every loading strategy tried per model (models.attempt_log, docs/attempt-log.md)."},
      {"columns",
       json::array({{{"key", "model"}},
                    {{"key", "step"}},
                    {{"key", "strategy"}},
                    {{"key", "recipe"}},
                    {{"key", "outcome"}},
                    {{"key", "reason"}},
                    {{"key", "peak_rss_bytes"}, {"label", "peak host"}, {"format", "bytes"}},
                    {{"key", "peak_device_bytes"}, {"label", "peak device"}, {"format", "bytes"}},
                    {{"key", "init_ms"}, {"format", "ms"}},
                    {{"key", "wall_ms"}, {"format", "ms"}},
                    {{"key", "exit_code"}},
                    {{"key", "signal"}},
                    {{"key", "log_tail"}, {"format", "pre"}}})},
      {"rows", rows}};
}

}  // namespace

std::string model_adapters(const json& attempt_logs) {
  if (!attempt_logs.is_array() || attempt_logs.empty()) return "";
  const json& log = attempt_logs.back();
  std::string out;
  if (!log.is_object() || !log.contains("adapters") || !log["adapters"].is_array()) return out;
  for (const auto& a : log["adapters"]) {
    if (!a.is_object() || !a.contains("path") || !a["path"].is_string()) continue;
    out +=
        fmt::format("{}{} (scale {})", out.empty() ? "" : ", ",
                    std::filesystem::path(a["path"].get<std::string>()).filename().string(),
                    a.contains("scale") && a["scale"].is_number() ? a["scale"].get<double>() : 1.0);
  }
  return out;
}

namespace {

json models_table(const RunView& run) {
  json rows = json::array();
  for (std::size_t i = 0; i < run.models.size(); ++i) {
    const auto& m = run.models[i];
    rows.push_back({{"name", m.name},
                    {"strategy", m.strategy},
                    {"adapters", i < run.attempt_logs.size() ? model_adapters(run.attempt_logs[i])
                                                             : std::string()},
                    {"path", m.path},
                    {"sha256", m.sha256}});
  }
  return {{"id", "models"},
          {"title", "Models"},
          {"description",
           "The models table of run.db, with the LoRA adapters each applied on its base."},
          {"columns", json::array({{{"key", "name"}},
                                   {{"key", "strategy"}},
                                   {{"key", "adapters"}},
                                   {{"key", "path"}},
                                   {{"key", "sha256"}}})},
          {"rows", rows}};
}

json provenance_table(const RunView& run) {
  json rows = json::array();
  for (const char* key : {"started_at", "finished_at", "inputs", "build", "host", "energy"}) {
    if (!run.metadata.contains(key)) continue;
    json value = run.metadata[key];
    // CPU feature flags are long and say little to an auditor reading a summary.
    if (std::string(key) == "host" && value.contains("cpu") && value["cpu"].is_object()) {
      value["cpu"].erase("flags");
    }
    flatten(value, key, rows);
  }
  if (run.metadata.contains("config")) {
    rows.push_back({{"key", "config"}, {"value", run.metadata["config"].dump(2)}});
  }
  return {{"id", "provenance"},
          {"title", "Provenance"},
          {"description",
           "Input hashes, build, host, times and the resolved config (run.db metadata; "
           "manifest.json and `clinbench verify` re-hash them)."},
          {"columns", json::array({{{"key", "key"}}, {{"key", "value"}, {"format", "pre"}}})},
          {"rows", rows}};
}

}  // namespace

json run_notices(const RunView& run, const std::string& label) {
  json out = json::array();
  if (run.running_pid) {
    out.push_back(fmt::format(
        "{}This run was still going when the report was made ({}): it shows the {} item(s) "
        "recorded by then. Make the report again when the run has finished.",
        label,
        *run.running_pid > 0 ? fmt::format("process {}", *run.running_pid)
                             : std::string("its process holds the run directory"),
        run.items.size()));
  }
  return out;
}

json document_header(const std::string& kind, const std::string& title) {
  return {{"format", kReportFormat},
          {"kind", kind},
          {"title", title},
          {"generated_at", utc_timestamp()},
          {"clinbench", {{"version", CLINBENCH_VERSION}, {"commit", git_commit()}}}};
}

json figure_json(const Figure& f, json panels) {
  return {{"id", f.id}, {"title", f.title}, {"columns", f.columns}, {"panels", std::move(panels)}};
}

json panel_json(const std::string& id, const std::string& title, const std::string& description,
                json spec) {
  return {{"id", id}, {"title", title}, {"description", description}, {"spec", std::move(spec)}};
}

}  // namespace report

Result<json> report_data(const std::filesystem::path& run_dir) {
  auto run = report::load_run(run_dir);
  if (!run) return std::unexpected(run.error());
  const std::string name =
      std::filesystem::absolute(run_dir).lexically_normal().filename().string();
  json doc = report::document_header("run", "clinbench report: " + name);
  doc["run_dir"] = run_dir.string();
  doc["notices"] = report::run_notices(*run, "");
  doc["results"] = run->results_json;
  json figures = json::array();
  for (const auto& f : report::dashboard_figures()) {
    json panels = json::array();
    for (const auto& p : report::dashboard_panels()) {
      if (p.figure == f.id)
        panels.push_back(report::panel_json(p.id, p.title, p.description, p.build(*run)));
    }
    figures.push_back(report::figure_json(f, std::move(panels)));
  }
  doc["figures"] = std::move(figures);
  doc["tables"] = json::array(
      {report::models_table(*run), report::attempts_table(*run), report::provenance_table(*run)});
  json items = json::array();
  for (const auto& it : run->items) items.push_back(json(item_to_json(it)));
  doc["items"] = std::move(items);
  doc["counts"] = {{"items", run->items.size()}, {"models", run->model_names().size()}};
  return doc;
}

}  // namespace clinbench
