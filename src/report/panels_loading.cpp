// Panels about loading (figure 1.2, 1.3), from each model's stored attempt log
// (docs/attempt-log.md).
#include <fmt/format.h>

#include "report/panels.h"

namespace clinbench::report {

using nlohmann::json;

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

// "ok" is shown as what it means for a reader.
std::string outcome_label(const std::string& outcome) {
  return outcome == "ok" ? "succeeded" : outcome;
}

// Adds the rows of a model's successful attempt a to rows: host and device peak, the planned
// host and device totals, and the time to initialize. any_device is set when a device peak is
// recorded.
void add_attempt_rows(const std::string& name, const json& a, json& rows, bool& any_device) {
  const std::string strategy = str(a.value("strategy", json()));
  for (const auto& [key, measure] :
       {std::pair{"peak_rss_bytes", "host peak"}, std::pair{"peak_device_bytes", "device peak"}}) {
    if (!a.contains(key) || !a[key].is_number()) continue;
    const double bytes = a[key].get<double>();
    any_device = any_device || std::string(key) == "peak_device_bytes";
    rows.push_back({{"model", name},
                    {"strategy", strategy},
                    {"measure", measure},
                    {"bytes", a[key]},
                    {"mib", bytes / kMiB}});
  }
  // The plan beside the peak: how close the loading chain's projection came.
  for (const char* side : {"host", "device"}) {
    if (!a.contains("projected") || !a["projected"].is_object()) break;
    const json& p = a["projected"].value(side, json());
    if (!p.is_object() || !p.contains("total") || !p["total"].is_number()) continue;
    const double bytes = p["total"].get<double>();
    if (std::string(side) == "device" && bytes <= 0) continue;
    rows.push_back({{"model", name},
                    {"strategy", strategy},
                    {"measure", std::string(side) + " planned"},
                    {"bytes", p["total"]},
                    {"mib", bytes / kMiB}});
  }
  if (a.contains("init_ms") && a["init_ms"].is_number()) {
    rows.push_back(
        {{"model", name}, {"strategy", strategy}, {"measure", "init"}, {"init_ms", a["init_ms"]}});
  }
}

// The rows of the memory-and-init panel: each model's successful attempts, or a "not loaded"
// row. any_device is set when a device peak is recorded.
json memory_and_init_rows(const RunView& run, bool& any_device) {
  json rows = json::array();
  for (std::size_t m = 0; m < run.models.size(); ++m) {
    const std::string& name = run.models[m].name;
    bool loaded = false;
    for (const auto& log : run.attempt_logs[m]) {
      if (!log.contains("succeeded") || !log["succeeded"].is_number_integer()) continue;
      const auto idx = log["succeeded"].get<std::size_t>();
      if (!log.contains("attempts") || idx >= log["attempts"].size()) continue;
      loaded = true;
      add_attempt_rows(name, log["attempts"][idx], rows, any_device);
    }
    if (!loaded) {
      rows.push_back({{"model", name}, {"measure", "none"}, {"note", "not loaded"}});
    }
  }
  return rows;
}

// The left chart of the panel: planned and peak memory per model, bars per measure.
json memory_chart(const RunView& run, bool any_device) {
  const int n = static_cast<int>(run.models.size());
  const json mem_tooltip = json::array({{{"field", "model"}},
                                        {{"field", "strategy"}},
                                        {{"field", "measure"}},
                                        {{"field", "mib"}, {"format", ",.1f"}, {"title", "MiB"}},
                                        {{"field", "bytes"}, {"format", ","}}});
  json memory = {
      {"width", 170},
      {"height", std::max(60, 26 * n)},
      {"title", {{"text", "planned and peak memory (MiB)"}, {"fontSize", 11}}},
      {"encoding", {{"y", model_axis(run)}}},
      {"layer",
       json::array(
           {{{"transform",
              {{{"filter",
                 "datum.measure == 'host peak' || "
                 "datum.measure == 'device peak' || "
                 "datum.measure == 'host planned' || "
                 "datum.measure == 'device planned'"}}}},
             {"mark", {{"type", "bar"}}},
             {"encoding",
              {{"x", {{"field", "mib"}, {"type", "quantitative"}, {"title", "MiB"}}},
               {"yOffset",
                {{"field", "measure"},
                 {"type", "nominal"},
                 {"sort", {"host planned", "host peak", "device planned", "device peak"}}}},
               {"color",
                {{"field", "measure"},
                 {"type", "nominal"},
                 {"title", nullptr},
                 {"scale",
                  {{"domain", {"host planned", "host peak", "device planned", "device peak"}},
                   {"range", {"#9ecae9", "#4c78a8", "#ffbf79", "#f58518"}}}},
                 {"legend", {{"orient", "bottom"}}}}},
               {"tooltip", mem_tooltip}}}},
            {{"transform", {{{"filter", "datum.measure == 'none'"}}}},
             {"mark",
              {{"type", "text"}, {"align", "left"}, {"fontStyle", "italic"}, {"color", "#555"}}},
             {"encoding",
              {{"x", {{"datum", 0}, {"type", "quantitative"}}},
               {"text", {{"field", "note"}}}}}}})}};
  if (!any_device) memory["title"]["subtitle"] = "device: none measured (no accelerator)";
  return memory;
}

// The right chart of the panel: time to initialize per model, on the memory chart's model axis.
json init_chart(const RunView& run) {
  const int n = static_cast<int>(run.models.size());
  return {{"width", 90},
          {"height", std::max(60, 26 * n)},
          {"title", {{"text", "time to initialize"}, {"fontSize", 11}}},
          {"transform", {{{"filter", "datum.measure == 'init'"}}}},
          {"mark", {{"type", "bar"}, {"color", "#54a24b"}}},
          {"encoding",
           {{"y",
             {{"field", "model"},
              {"type", "nominal"},
              {"sort", run.model_names()},
              {"axis", nullptr},
              {"title", nullptr}}},
            {"x", {{"field", "init_ms"}, {"type", "quantitative"}, {"title", "ms"}}},
            {"tooltip", json::array({{{"field", "model"}},
                                     {{"field", "strategy"}},
                                     {{"field", "init_ms"}, {"format", ",.1f"}}})}}}};
}

}  // namespace

json memory_and_init_spec(const RunView& run) {
  bool any_device = false;
  const json rows = memory_and_init_rows(run, any_device);
  if (rows.empty()) return message_spec({"No model is recorded in this run."});
  return {{"data", {{"values", rows}}},
          {"hconcat", json::array({memory_chart(run, any_device), init_chart(run)})},
          {"resolve", {{"scale", {{"y", "shared"}}}}}};
}

json loading_strategies_spec(const RunView& run) {
  json rows = json::array();
  for (std::size_t m = 0; m < run.models.size(); ++m) {
    int step = 0;
    for (const auto& log : run.attempt_logs[m]) {
      if (!log.contains("attempts") || !log["attempts"].is_array()) continue;
      for (const auto& a : log["attempts"]) {
        const std::string outcome = str(a.value("outcome", json()));
        rows.push_back({{"model", run.models[m].name},
                        {"strategy", str(a.value("strategy", json()))},
                        {"step", ++step},
                        {"outcome", outcome},
                        {"label", outcome_label(outcome)},
                        {"reason", str(a.value("reason", json()))},
                        {"exit_code", a.value("exit_code", json())},
                        {"signal", a.value("signal", json())},
                        {"init_ms", a.value("init_ms", json())}});
      }
    }
  }
  if (rows.empty()) return message_spec({"No attempt log is recorded in this run."});
  const json tooltip = json::array({{{"field", "model"}},
                                    {{"field", "strategy"}},
                                    {{"field", "label"}, {"title", "outcome"}},
                                    {{"field", "reason"}},
                                    {{"field", "exit_code"}},
                                    {{"field", "signal"}},
                                    {{"field", "init_ms"}, {"format", ",.1f"}}});
  const json x = {{"field", "strategy"},
                  {"type", "nominal"},
                  {"title", nullptr},
                  {"sort", {"native", "quantize:q8", "quantize:q4", "offload", "cpu"}},
                  {"axis", {{"labelAngle", -30}}}};
  const int n = static_cast<int>(run.models.size());
  return {{"data", {{"values", rows}}},
          {"width", 260},
          {"height", std::max(60, 26 * n)},
          {"encoding", {{"x", x}, {"y", model_axis(run)}, {"tooltip", tooltip}}},
          {"layer", json::array({{{"mark", {{"type", "rect"}, {"stroke", "white"}}},
                                  {"encoding",
                                   {{"color",
                                     {{"field", "label"},
                                      {"type", "nominal"},
                                      {"title", nullptr},
                                      {"scale",
                                       {{"domain", {"succeeded", "skipped", "failed", "crashed"}},
                                        {"range", {"#54a24b", "#bab0ac", "#f58518", "#e45756"}}}},
                                      {"legend", {{"orient", "bottom"}}}}}}}},
                                 {{"mark", {{"type", "text"}, {"fontSize", 10}, {"limit", 80}}},
                                  {"encoding", {{"text", {{"field", "label"}}}}}}})}};
}

}  // namespace clinbench::report
