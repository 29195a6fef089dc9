// Panels about the data (figure 1.4, 1.5): the items recorded (distinct dataset × item_id,
// whatever the number of models) and the dataset lines skipped when reading (metadata
// 'datasets', as results.json extra_counts).
#include <map>
#include <set>
#include <tuple>

#include "report/panels.h"

namespace clinbench::report {

using nlohmann::json;

namespace {

struct DistinctItem {
  std::string split;
  std::string question_type;
  bool labeled = false;
};

// (dataset, item_id) -> the first record's split, type and label.
std::map<std::pair<std::string, std::string>, DistinctItem> distinct_items(const RunView& run) {
  std::map<std::pair<std::string, std::string>, DistinctItem> out;
  for (const auto& it : run.items) {
    out.try_emplace({it.dataset, it.item_id},
                    DistinctItem{it.split, it.question_type, it.correct_answer.has_value()});
  }
  return out;
}

// Horizontal bars, one row per "dataset · split" label, stacked by colour.
json bars_by_label(json rows, std::size_t labels, const json& x, const json& color,
                   const json& tooltip) {
  return {{"data", {{"values", std::move(rows)}}},
          {"width", 240},
          {"height", std::max<std::size_t>(60, 24 * labels)},
          {"mark", {{"type", "bar"}}},
          {"encoding",
           {{"y",
             {{"field", "label"},
              {"type", "nominal"},
              {"title", nullptr},
              {"axis", {{"labelLimit", 150}}}}},
            {"x", x},
            {"color", color},
            {"tooltip", tooltip}}}};
}

}  // namespace

json dataset_splits_spec(const RunView& run) {
  // (dataset, split) -> labeled, unlabeled
  std::map<std::pair<std::string, std::string>, std::pair<int64_t, int64_t>> groups;
  std::map<std::string, std::set<std::string>> splits_of;
  for (const auto& [key, item] : distinct_items(run)) {
    auto& g = groups[{key.first, item.split}];
    (item.labeled ? g.first : g.second) += 1;
    splits_of[key.first].insert(item.split);
  }
  json rows = json::array();
  for (const auto& [key, counts] : groups) {
    const std::string label = group_label(key.first, key.second);
    rows.push_back({{"dataset", key.first},
                    {"split", key.second},
                    {"label", label},
                    {"kind", "labeled"},
                    {"count", counts.first}});
    rows.push_back({{"dataset", key.first},
                    {"split", key.second},
                    {"label", label},
                    {"kind", "unlabeled"},
                    {"count", counts.second}});
  }
  const json& datasets = run.metadata.contains("datasets") ? run.metadata["datasets"] : json();
  if (datasets.is_object()) {
    for (const auto& [name, d] : datasets.items()) {
      const auto& splits = splits_of[name];
      const std::string label =
          splits.size() == 1 ? group_label(name, *splits.begin()) : name + " · file";
      rows.push_back({{"dataset", name},
                      {"label", label},
                      {"kind", "invalid lines"},
                      {"count", d.value("skipped_rows", json(0))},
                      {"rows_read", d.value("rows", json())},
                      {"items_in_file", d.value("items", json())},
                      {"selected", d.value("selected", json())}});
    }
  }
  if (rows.empty()) return message_spec({"No dataset is recorded in this run."});
  std::set<std::string> labels;
  for (const auto& r : rows) labels.insert(str(r["label"]));
  const json tooltip = json::array({{{"field", "dataset"}},
                                    {{"field", "split"}},
                                    {{"field", "kind"}},
                                    {{"field", "count"}},
                                    {{"field", "rows_read"}, {"title", "lines read"}},
                                    {{"field", "items_in_file"}, {"title", "items in file"}},
                                    {{"field", "selected"}}});
  return bars_by_label(std::move(rows), labels.size(),
                       {{"field", "count"},
                        {"type", "quantitative"},
                        {"stack", "zero"},
                        {"title", "items (invalid: lines)"}},
                       {{"field", "kind"},
                        {"type", "nominal"},
                        {"title", nullptr},
                        {"scale",
                         {{"domain", {"labeled", "unlabeled", "invalid lines"}},
                          {"range", {"#4c78a8", "#9ecae9", "#e45756"}}}},
                        {"legend", {{"orient", "bottom"}}}},
                       tooltip);
}

json question_types_spec(const RunView& run) {
  std::map<std::tuple<std::string, std::string, std::string>, int64_t> counts;
  for (const auto& [key, item] : distinct_items(run)) {
    ++counts[{key.first, item.split, item.question_type}];
  }
  if (counts.empty()) return message_spec({"No item is recorded in this run."});
  json rows = json::array();
  std::set<std::string> labels;
  for (const auto& [key, n] : counts) {
    const auto& [dataset, split, type] = key;
    labels.insert(group_label(dataset, split));
    rows.push_back({{"dataset", dataset},
                    {"split", split},
                    {"label", group_label(dataset, split)},
                    {"question_type", type},
                    {"items", n}});
  }
  return bars_by_label(std::move(rows), labels.size(),
                       {{"field", "items"}, {"type", "quantitative"}, {"title", "items"}},
                       {{"field", "question_type"},
                        {"type", "nominal"},
                        {"title", nullptr},
                        {"sort", {"multi_choice", "open_ended_multi_choice", "open_ended"}},
                        {"legend", {{"orient", "bottom"}, {"columns", 1}}}},
                       json::array({{{"field", "dataset"}},
                                    {{"field", "split"}},
                                    {{"field", "question_type"}},
                                    {{"field", "items"}}}));
}

}  // namespace clinbench::report
