// Panels about answers: accuracy per split and per question type (figure 1.1, 1.6), accuracy
// against tokens (figure 1.7, figure 2), and the generalization gap (figure 3). Every number is
// a results.json value (RunView::results_json), copied, never recomputed.
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "report/panels.h"

namespace clinbench::report {

using nlohmann::json;

namespace {

const json* find_usage(const RunView& run, const json& model, const json& dataset) {
  for (const auto& u : run.results_json["usage"]) {
    if (u["model"] == model && u["dataset"] == dataset) return &u;
  }
  return nullptr;
}

std::size_t unlabeled_items(const RunView& run) {
  std::size_t n = 0;
  for (const auto& it : run.items) n += it.correct_answer ? 0 : 1;
  return n;
}

// Figure 2 offers energy per item as its x axis when every point has one (a radio button on the
// page; the static figure draws tokens): x then reads the field the switch computes.
bool energy_axis(const json& values, json& x) {
  const bool all = std::all_of(values.begin(), values.end(),
                               [](const json& v) { return v["energy_j_per_item"].is_number(); });
  if (!all) return false;
  x["field"] = "x_value";
  x["axis"] = {{"format", ",.4~g"},
               {"title",
                {{"expr",
                  "x_axis == 'energy' ? 'average joules per item (all turns)' : "
                  "'average tokens per item (prompt + output)'"}}}};
  x.erase("title");
  return true;
}

// One point per model and labeled split: accuracy, tokens and energy per item.
json efficiency_values(const RunView& run) {
  json values = json::array();
  for (const auto& a : run.results_json["accuracy"]) {
    if (a["question_type"] != kAllQuestionTypes || a["accuracy"].is_null()) continue;
    const json* u = find_usage(run, a["model"], a["dataset"]);
    if (!u) continue;
    const double prompt = (*u)["avg_prompt_tokens"].get<double>();
    const double output = (*u)["avg_output_tokens"].get<double>();
    // Energy per item where every item of the model × dataset has one (results.json usage).
    const json& joules = u->value("energy_j", json());
    const auto items = u->value("items", 0.0);
    const json per_item =
        joules.is_number() && items > 0 ? json(joules.get<double>() / items) : json();
    values.push_back({{"model", a["model"]},
                      {"energy_j_per_item", per_item},
                      {"joules_per_correct", u->value("joules_per_correct", json())},
                      {"dataset", a["dataset"]},
                      {"split", a["split"]},
                      {"group", group_label(str(a["dataset"]), str(a["split"]))},
                      {"accuracy", a["accuracy"]},
                      {"ci_low", a["ci_low"]},
                      {"ci_high", a["ci_high"]},
                      {"correct", a["correct"]},
                      {"scored", a["scored"]},
                      {"avg_prompt_tokens", prompt},
                      {"avg_output_tokens", output},
                      {"avg_tokens", prompt + output}});
  }
  return values;
}

json efficiency_spec(const RunView& run, bool labeled) {
  const json values = efficiency_values(run);
  if (values.empty()) {
    return message_spec({"No accuracy to plot against tokens: no item is scored.",
                         fmt::format("Accuracy needs labeled items; {} of {} items are unlabeled.",
                                     unlabeled_items(run), run.items.size())});
  }
  const json tooltip = json::array(
      {{{"field", "model"}},
       {{"field", "group"}, {"title", "dataset · split"}},
       {{"field", "accuracy"}, {"format", ".1%"}},
       {{"field", "ci_low"}, {"format", ".1%"}},
       {{"field", "ci_high"}, {"format", ".1%"}},
       {{"field", "scored"}},
       {{"field", "avg_tokens"}, {"format", ".1f"}, {"title", "tokens per item"}},
       {{"field", "avg_prompt_tokens"}, {"format", ".1f"}},
       {{"field", "avg_output_tokens"}, {"format", ".1f"}},
       {{"field", "energy_j_per_item"}, {"format", ".2f"}, {"title", "J per item"}},
       {{"field", "joules_per_correct"}, {"format", ".2f"}, {"title", "J per correct"}}});
  json x = {{"field", "avg_tokens"},
            {"type", "quantitative"},
            {"scale", {{"zero", false}, {"nice", true}, {"padding", 16}}},
            {"axis", {{"format", ",.0f"}}},
            {"title", "average tokens per item (prompt + output)"}};
  const bool energy = labeled && energy_axis(values, x);
  const json color = {{"field", "model"},
                      {"type", "nominal"},
                      {"sort", run.model_names()},
                      {"legend", model_legend(run)}};
  json layers =
      json::array({{{"mark", {{"type", "rule"}, {"opacity", 0.6}}},
                    {"encoding",
                     {{"x", x},
                      {"y", {{"field", "ci_low"}, {"type", "quantitative"}}},
                      {"y2", {{"field", "ci_high"}}},
                      {"color", color}}}},
                   {{"mark", {{"type", "point"}, {"filled", true}, {"size", labeled ? 90 : 60}}},
                    {"encoding",
                     {{"x", x},
                      {"y",
                       {{"field", "accuracy"},
                        {"type", "quantitative"},
                        {"scale", {{"domain", {0, 1}}}},
                        {"axis", {{"format", ".0%"}}},
                        {"title", "accuracy (95% Wilson interval)"}}},
                      {"color", color},
                      {"shape",
                       {{"field", "group"},
                        {"type", "nominal"},
                        {"title", "dataset · split"},
                        {"legend", {{"orient", "bottom"}, {"labelLimit", 200}}}}},
                      {"tooltip", tooltip}}}}});
  if (labeled) {
    layers.push_back({{"mark",
                       {{"type", "text"},
                        {"align", "left"},
                        {"dx", 7},
                        {"dy", -7},
                        {"limit", 180},
                        {"fontSize", 11}}},
                      {"encoding",
                       {{"x", x},
                        {"y", {{"field", "accuracy"}, {"type", "quantitative"}}},
                        {"text", {{"field", "model"}}},
                        {"color", color}}}});
  }
  json spec = {{"data", {{"values", values}}},
               {"width", labeled ? 560 : 260},
               {"height", labeled ? 360 : 200},
               {"layer", layers}};
  if (energy) {
    spec["params"] = json::array(
        {{{"name", "x_axis"},
          {"value", "tokens"},
          {"bind",
           {{"input", "radio"}, {"options", {"tokens", "energy"}}, {"name", "x axis: "}}}}});
    spec["transform"] = json::array(
        {{{"calculate", "x_axis == 'energy' ? datum.energy_j_per_item : datum.avg_tokens"},
          {"as", "x_value"}}});
  }
  return spec;
}

}  // namespace

json accuracy_by_split_spec(const RunView& run) {
  json rows = json::array();
  for (const auto& a : run.results_json["accuracy"]) {
    if (a["question_type"] != kAllQuestionTypes) continue;
    json r = a;
    r["group"] = group_label(str(a["dataset"]), str(a["split"]));
    // Drawn at 0 instead of a bar, so it names its split: "test · test: no labels".
    r["note_label"] = a["note"].is_null() ? json() : json(str(r["group"]) + ": " + str(a["note"]));
    rows.push_back(std::move(r));
  }
  if (rows.empty()) return message_spec({"No item is recorded in this run."});
  const int n = static_cast<int>(rows.size());
  return accuracy_bars_spec(std::move(rows), model_axis(run), "group", "dataset · split", n);
}

json accuracy_by_type_spec(const RunView& run) {
  json rows = json::array();
  std::set<std::string> groups;
  for (const auto& a : run.results_json["accuracy"]) {
    if (a["question_type"] == kAllQuestionTypes) continue;
    if (a["labeled"] == 0) continue;          // an unlabeled split: panel 1 says "no labels"
    if (a["note"] == "not scored") continue;  // open_ended: never scored, as the panel says
    groups.insert(group_label(str(a["dataset"]), str(a["split"])));
    json r = a;
    r["note_label"] = a["note"];
    rows.push_back(std::move(r));
  }
  if (rows.empty()) {
    return message_spec({"No labeled items: accuracy per question type needs labels.",
                         "Unlabeled splits are shown as 'no labels' in panel 1."});
  }
  for (auto& r : rows) {
    const std::string type = str(r["question_type"]);
    r["type_label"] =
        groups.size() > 1 ? type + " · " + group_label(str(r["dataset"]), str(r["split"])) : type;
  }
  const int n = static_cast<int>(rows.size());
  const json y = {{"field", "type_label"},
                  {"type", "nominal"},
                  {"title", nullptr},
                  {"axis", {{"labelLimit", 150}}}};
  json spec = accuracy_bars_spec(std::move(rows), y, "model", "model", n);
  spec["layer"][0]["encoding"]["color"]["sort"] = run.model_names();
  spec["layer"][0]["encoding"]["color"]["legend"] = model_legend(run);
  return spec;
}

json token_efficiency_spec(const RunView& run) { return efficiency_spec(run, false); }
json efficiency_labeled_spec(const RunView& run) { return efficiency_spec(run, true); }

json generalization_gap_spec(const RunView& run) {
  const json& gaps = run.results_json["generalization_gap"];
  if (gaps.empty()) {
    std::set<std::string> groups;
    for (const auto& it : run.items) groups.insert(group_label(it.dataset, it.split));
    std::string listed;
    for (const auto& g : groups) listed += (listed.empty() ? "" : ", ") + g;
    return message_spec(
        {"No generalization gap: no dataset was evaluated on both a 'val' and a 'test' split.",
         "The gap compares the two splits of one dataset; this run has: " +
             (listed.empty() ? std::string("no items") : listed) + "."});
  }
  json rows = json::array();
  for (const auto& g : gaps) {
    json r = g;
    r["label"] = str(g["model"]) + " · " + str(g["dataset"]);
    // results.json stores reference - other (val - test); the figure shows test - val.
    r["test_minus_val"] = g["gap"].is_null() ? json() : json(-g["gap"].get<double>());
    r["tmv_low"] = g["ci_high"].is_null() ? json() : json(-g["ci_high"].get<double>());
    r["tmv_high"] = g["ci_low"].is_null() ? json() : json(-g["ci_low"].get<double>());
    rows.push_back(std::move(r));
  }
  const json tooltip =
      json::array({{{"field", "model"}},
                   {{"field", "dataset"}},
                   {{"field", "test_minus_val"}, {"format", "+.1%"}, {"title", "test − val"}},
                   {{"field", "tmv_low"}, {"format", "+.1%"}},
                   {{"field", "tmv_high"}, {"format", "+.1%"}},
                   {{"field", "reference_accuracy"}, {"format", ".1%"}, {"title", "val accuracy"}},
                   {{"field", "other_accuracy"}, {"format", ".1%"}, {"title", "test accuracy"}},
                   {{"field", "note"}}});
  const json x = {{"field", "test_minus_val"},
                  {"type", "quantitative"},
                  {"scale", {{"domain", {-1, 1}}}},
                  {"axis", {{"format", "+.0%"}}},
                  {"title", "test − validation accuracy (Newcombe 95% interval)"}};
  const json y = {
      {"field", "label"}, {"type", "nominal"}, {"title", nullptr}, {"axis", {{"labelLimit", 220}}}};
  const int n = static_cast<int>(rows.size());
  return {
      {"data", {{"values", rows}}},
      {"width", 520},
      {"height", std::max(60, 22 * n)},
      {"encoding", {{"y", y}}},
      {"layer",
       json::array(
           {{{"transform", {{{"filter", "datum.test_minus_val != null"}}}},
             {"mark", {{"type", "bar"}}},
             {"encoding",
              {{"x", x},
               {"tooltip", tooltip},
               {"color",
                {{"condition", {{"test", "datum.test_minus_val < 0"}, {"value", "#d62728"}}},
                 {"value", "#2ca02c"}}}}}},
            {{"transform", {{{"filter", "datum.test_minus_val != null"}}}},
             {"mark", {{"type", "rule"}, {"color", "#222"}}},
             {"encoding",
              {{"x", {{"field", "tmv_low"}, {"type", "quantitative"}}},
               {"x2", {{"field", "tmv_high"}}}}}},
            {{"transform", {{{"filter", "datum.test_minus_val == null"}}}},
             {"mark",
              {{"type", "text"}, {"align", "left"}, {"color", "#555"}, {"fontStyle", "italic"}}},
             {"encoding",
              {{"x", {{"datum", -1}, {"type", "quantitative"}}},
               {"text", {{"field", "note"}}},
               {"tooltip", tooltip}}}}})}};
}

}  // namespace clinbench::report
