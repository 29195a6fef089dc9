// Panels about token cost (figure 1.8, 1.9, figure 4): results.json usage rows, and the items'
// reasoning_tokens binned here (the page draws the bins as given).
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "report/panels.h"

namespace clinbench::report {

using nlohmann::json;

namespace {

constexpr int kReasoningBins = 20;

// The smallest 1, 2 or 5 × 10^k that is at least x (x > 0).
int64_t nice_step(double x) {
  const double p = std::pow(10.0, std::floor(std::log10(x)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * p >= x) return std::max<int64_t>(1, static_cast<int64_t>(std::llround(m * p)));
  }
  return static_cast<int64_t>(std::llround(10 * p));
}

const json kTokenKinds = {"input (prompt)", "output"};

json token_color() {
  return {{"field", "kind"},
          {"type", "nominal"},
          {"title", nullptr},
          {"scale", {{"domain", kTokenKinds}, {"range", {"#4c78a8", "#f58518"}}}},
          {"legend", {{"orient", "bottom"}}}};
}

}  // namespace

json reasoning_length_spec(const RunView& run) {
  if (run.items.empty()) return message_spec({"No item is recorded in this run."});
  int64_t max_tokens = 0;
  for (const auto& it : run.items) max_tokens = std::max(max_tokens, it.reasoning_tokens);
  const int64_t width =
      max_tokens == 0 ? 1 : nice_step(static_cast<double>(max_tokens + 1) / kReasoningBins);
  std::map<std::pair<std::string, int64_t>, int64_t> bins;  // (model, bin start) -> items
  for (const auto& it : run.items) ++bins[{it.model, it.reasoning_tokens / width * width}];
  json rows = json::array();
  for (const auto& [key, n] : bins) {
    rows.push_back({{"model", key.first},
                    {"bin_start", key.second},
                    {"bin_end", key.second + width},
                    {"items", n}});
  }
  const int n_models = static_cast<int>(run.model_names().size());
  return {{"data", {{"values", rows}}},
          {"width", 260},
          {"height", std::max(60, 26 * n_models)},
          {"mark", {{"type", "rect"}}},
          {"encoding",
           {{"y", model_axis(run)},
            {"x",
             {{"field", "bin_start"},
              {"type", "quantitative"},
              {"title", "reasoning tokens per item"}}},
            {"x2", {{"field", "bin_end"}}},
            {"color",
             {{"field", "items"},
              {"type", "quantitative"},
              {"title", "items"},
              {"scale", {{"scheme", "blues"}}},
              {"legend", {{"orient", "bottom"}, {"format", ",.0f"}}}}},
            {"tooltip", json::array({{{"field", "model"}},
                                     {{"field", "bin_start"}},
                                     {{"field", "bin_end"}},
                                     {{"field", "items"}}})}}}};
}

json tokens_stacked_spec(const RunView& run) {
  json rows = json::array();
  for (const auto& u : run.results_json["usage"]) {
    rows.push_back({{"model", u["model"]},
                    {"dataset", u["dataset"]},
                    {"kind", kTokenKinds[0]},
                    {"tokens", u["prompt_tokens"]},
                    {"items", u["items"]}});
    rows.push_back({{"model", u["model"]},
                    {"dataset", u["dataset"]},
                    {"kind", kTokenKinds[1]},
                    {"tokens", u["output_tokens"]},
                    {"items", u["items"]}});
  }
  if (rows.empty()) return message_spec({"No item is recorded in this run."});
  const int n_models = static_cast<int>(run.model_names().size());
  return {{"data", {{"values", rows}}},
          {"width", 260},
          {"height", std::max(60, 26 * n_models)},
          {"mark", {{"type", "bar"}, {"stroke", "white"}, {"strokeWidth", 0.5}}},
          {"encoding",
           {{"y", model_axis(run)},
            {"x",
             {{"field", "tokens"},
              {"type", "quantitative"},
              {"stack", "zero"},
              {"title", "tokens (all items)"}}},
            {"color", token_color()},
            {"detail", {{"field", "dataset"}}},
            {"tooltip", json::array({{{"field", "model"}},
                                     {{"field", "dataset"}},
                                     {{"field", "kind"}},
                                     {{"field", "tokens"}, {"format", ","}},
                                     {{"field", "items"}}})}}}};
}

json average_tokens_spec(const RunView& run) {
  json rows = json::array();
  std::set<std::string> datasets;
  for (const auto& u : run.results_json["usage"]) {
    datasets.insert(str(u["dataset"]));
    rows.push_back({{"model", u["model"]},
                    {"dataset", u["dataset"]},
                    {"kind", kTokenKinds[0]},
                    {"avg_tokens", u["avg_prompt_tokens"]},
                    {"items", u["items"]}});
    rows.push_back({{"model", u["model"]},
                    {"dataset", u["dataset"]},
                    {"kind", kTokenKinds[1]},
                    {"avg_tokens", u["avg_output_tokens"]},
                    {"items", u["items"]}});
  }
  if (rows.empty()) return message_spec({"No item is recorded in this run."});
  const int n_bars = static_cast<int>(run.model_names().size() * datasets.size());
  json encoding = {{"y", model_axis(run)},
                   {"x",
                    {{"field", "avg_tokens"},
                     {"type", "quantitative"},
                     {"stack", "zero"},
                     {"title", "average tokens per item"}}},
                   {"color", token_color()},
                   {"tooltip", json::array({{{"field", "model"}},
                                            {{"field", "dataset"}},
                                            {{"field", "kind"}},
                                            {{"field", "avg_tokens"}, {"format", ",.1f"}},
                                            {{"field", "items"}}})}};
  encoding["y"]["axis"]["labelLimit"] = 260;
  if (datasets.size() > 1) {
    encoding["yOffset"] = {{"field", "dataset"}, {"type", "nominal"}};
  }
  return {{"data", {{"values", rows}}},
          {"width", 520},
          {"height", std::max(60, 20 * n_bars)},
          {"mark", {{"type", "bar"}}},
          {"encoding", encoding}};
}

json average_energy_spec(const RunView& run) {
  json rows = json::array();
  std::set<std::string> datasets;
  for (const auto& u : run.results_json["usage"]) {
    const json& joules = u["energy_j"];
    const auto items = u["items"].get<double>();
    if (!joules.is_number() || items <= 0) continue;
    datasets.insert(str(u["dataset"]));
    rows.push_back({{"model", u["model"]},
                    {"dataset", u["dataset"]},
                    {"avg_energy_j", joules.get<double>() / items},
                    {"energy_j", joules},
                    {"joules_per_correct", u["joules_per_correct"]},
                    {"joules_per_output_token", u["joules_per_output_token"]},
                    {"items", u["items"]}});
  }
  if (rows.empty()) {
    std::vector<std::string> lines = {
        "No energy per item: no model × dataset has every item's energy_j."};
    const json& e = run.metadata.value("energy", json());
    if (e.is_object()) {
      for (const auto& why : e.value("unavailable", json::array())) {
        lines.push_back(str(why.value("source", json(""))) + ": " +
                        str(why.value("reason", json(""))));
      }
    }
    return message_spec(lines);
  }
  const int n_bars = static_cast<int>(run.model_names().size() * datasets.size());
  json encoding = {
      {"y", model_axis(run)},
      {"x",
       {{"field", "avg_energy_j"},
        {"type", "quantitative"},
        {"title", "average joules per item (all turns)"}}},
      {"color", {{"field", "dataset"}, {"type", "nominal"}, {"legend", {{"orient", "bottom"}}}}},
      {"tooltip",
       json::array(
           {{{"field", "model"}},
            {{"field", "dataset"}},
            {{"field", "avg_energy_j"}, {"format", ",.3f"}, {"title", "J per item"}},
            {{"field", "energy_j"}, {"format", ",.1f"}, {"title", "J in all"}},
            {{"field", "joules_per_correct"}, {"format", ",.3f"}, {"title", "J per correct"}},
            {{"field", "joules_per_output_token"},
             {"format", ",.4f"},
             {"title", "J per output token"}},
            {{"field", "items"}}})}};
  encoding["y"]["axis"]["labelLimit"] = 260;
  if (datasets.size() > 1) {
    encoding["yOffset"] = {{"field", "dataset"}, {"type", "nominal"}};
  }
  return {{"data", {{"values", rows}}},
          {"width", 520},
          {"height", std::max(60, 20 * n_bars)},
          {"mark", {{"type", "bar"}}},
          {"encoding", encoding}};
}

}  // namespace clinbench::report
