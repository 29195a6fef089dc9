// The panel table and the spec helpers the builders share.
#include "report/panels.h"

#include <algorithm>

namespace clinbench::report {

using nlohmann::json;

const std::vector<Figure>& dashboard_figures() {
  static const std::vector<Figure> figures = {
      {"figure1", "Figure 1. The dashboard: loading, memory, data, accuracy and token cost", 3},
      {"figure2", "Figure 2. Efficiency against accuracy", 1},
      {"figure3", "Figure 3. Generalization gap (test − validation)", 1},
      {"figure4", "Figure 4. Average tokens per item", 1},
  };
  return figures;
}

const std::vector<Panel>& dashboard_panels() {
  static const std::vector<Panel> panels = {
      {"accuracy", "figure1", "1. Accuracy per split",
       "Accuracy of each model on each dataset split (results.json accuracy rows with "
       "question_type 'all'), with the 95% Wilson interval; a split without labels says 'no "
       "labels', never 0%.",
       accuracy_by_split_spec},
      {"memory", "figure1", "2. Peak memory and time to initialize",
       "Peak host memory (peak_rss_bytes), peak device memory (peak_device_bytes) and init_ms of "
       "the attempt that loaded each model (attempt log).",
       memory_and_init_spec},
      {"strategies", "figure1", "3. Loading strategies",
       "Every strategy the loading chain considered per model and its outcome (attempt log "
       "attempts[].outcome); hover for the reason.",
       loading_strategies_spec},
      {"datasets", "figure1", "4. Dataset splits and verification",
       "Items per dataset split, labeled (correct_answer present) or not, and the invalid lines "
       "skipped when reading each dataset file (metadata 'datasets': skipped_rows).",
       dataset_splits_spec},
      {"question-types", "figure1", "5. Question types",
       "Items per question_type in each dataset split (distinct item ids).",
       question_types_spec},
      {"accuracy-by-type", "figure1", "6. Accuracy per question type",
       "Accuracy per question_type per model (results.json accuracy rows), 95% Wilson interval; "
       "open_ended items are never scored.",
       accuracy_by_type_spec},
      {"efficiency", "figure1", "7. Token efficiency",
       "Average tokens per item (avg_prompt_tokens + avg_output_tokens of results.json usage) "
       "against accuracy, per model and labeled split.",
       token_efficiency_spec},
      {"reasoning-length", "figure1", "8. Reasoning length",
       "Distribution of reasoning_tokens per item, per model: items in each bin.",
       reasoning_length_spec},
      {"tokens", "figure1", "9. Input and output tokens",
       "Total prompt_tokens and output_tokens per model (results.json usage), stacked by "
       "dataset.",
       tokens_stacked_spec},
      {"efficiency-labeled", "figure2", "Efficiency vs accuracy",
       "One labeled point per model and labeled split: average tokens per item (prompt + "
       "output) against accuracy with its 95% Wilson interval.",
       efficiency_labeled_spec},
      {"gap", "figure3", "Generalization gap",
       "test − validation accuracy per model and dataset (results.json generalization_gap: "
       "-gap), with Newcombe's 95% interval, only where both splits have scored items; "
       "otherwise the reason.",
       generalization_gap_spec},
      {"average-tokens", "figure4", "Average tokens per item",
       "avg_prompt_tokens and avg_output_tokens per model and dataset (results.json usage), "
       "stacked.",
       average_tokens_spec},
  };
  return panels;
}

json opt(const std::optional<double>& v) { return v ? json(*v) : json(); }

json message_spec(const std::vector<std::string>& lines) {
  json values = json::array();
  for (std::size_t i = 0; i < lines.size(); ++i) values.push_back({{"line", lines[i]}, {"i", i}});
  return {{"data", {{"values", values}}},
          {"width", 300},
          {"height", std::max<std::size_t>(40, 18 * lines.size())},
          {"mark", {{"type", "text"}, {"align", "left"}, {"baseline", "middle"}, {"fontSize", 12},
                    {"color", "#444"}, {"limit", 300}}},
          {"encoding",
           {{"x", {{"value", 0}}},
            {"y", {{"field", "i"}, {"type", "ordinal"}, {"axis", nullptr}}},
            {"text", {{"field", "line"}}}}}};
}

json model_axis(const RunView& run, const std::string& field) {
  return {{"field", field},
          {"type", "nominal"},
          {"title", nullptr},
          {"sort", run.model_names()},
          {"axis", {{"labelLimit", 150}}}};
}

json accuracy_bars_spec(json rows, const json& y_encoding,
                        const std::string& offset_field, const std::string& color_title,
                        int rows_drawn) {
  const json tooltip = json::array(
      {{{"field", "model"}}, {{"field", "dataset"}}, {{"field", "split"}},
       {{"field", "question_type"}},
       {{"field", "accuracy"}, {"format", ".1%"}}, {{"field", "ci_low"}, {"format", ".1%"}},
       {{"field", "ci_high"}, {"format", ".1%"}}, {{"field", "correct"}}, {{"field", "scored"}},
       {{"field", "items"}}, {{"field", "note"}}});
  const json x = {{"field", "accuracy"},
                  {"type", "quantitative"},
                  {"scale", {{"domain", {0, 1}}}},
                  {"axis", {{"format", ".0%"}}},
                  {"title", "accuracy (95% Wilson interval)"}};
  json offset = {{"field", offset_field}, {"type", "nominal"}};
  return {
      {"data", {{"values", std::move(rows)}}},
      {"width", 260},
      {"height", std::max(60, 16 * rows_drawn)},
      {"encoding", {{"y", y_encoding}, {"yOffset", offset}}},
      {"layer",
       json::array(
           {{{"transform", {{{"filter", "datum.accuracy != null"}}}},
             {"mark", {{"type", "bar"}}},
             {"encoding",
              {{"x", x},
               {"color", {{"field", offset_field}, {"type", "nominal"}, {"title", color_title},
                          {"legend", {{"orient", "bottom"}, {"labelLimit", 220},
                                      {"columns", 2}}}}},
               {"tooltip", tooltip}}}},
            {{"transform", {{{"filter", "datum.accuracy != null"}}}},
             {"mark", {{"type", "rule"}, {"color", "#222"}}},
             {"encoding", {{"x", {{"field", "ci_low"}, {"type", "quantitative"}}},
                           {"x2", {{"field", "ci_high"}}},
                           {"tooltip", tooltip}}}},
            {{"transform", {{{"filter", "datum.accuracy == null"}}}},
             {"mark", {{"type", "text"}, {"align", "left"}, {"dx", 3}, {"color", "#555"},
                       {"fontStyle", "italic"}}},
             {"encoding", {{"x", {{"datum", 0}, {"type", "quantitative"}}},
                           {"text", {{"field", "note_label"}}},
                           {"tooltip", tooltip}}}}})},
      {"resolve", {{"scale", {{"x", "shared"}}}}}};
}

}  // namespace clinbench::report
