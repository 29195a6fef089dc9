// The panel table and the spec helpers the builders share.
#include "report/panels.h"

#include <fmt/format.h>

#include <algorithm>

namespace clinbench::report {

using nlohmann::json;

const std::vector<Figure>& dashboard_figures() {
  static const std::vector<Figure> figures = {
      {"figure1", "Figure 1. The dashboard: loading, memory, data, accuracy and token cost", 3},
      {"figure2", "Figure 2. Efficiency against accuracy", 1},
      {"figure3", "Figure 3. Generalization gap (test − validation)", 1},
      {"figure4", "Figure 4. Average tokens and energy per item", 1},
      {"figure5", "Figure 5. Quantization fidelity (fidelity.json)", 3},
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
      {"memory", "figure1", "2. Planned and peak memory, time to initialize",
       "The plan's host and device totals (projected.*.total), peak host memory "
       "(peak_rss_bytes), peak device memory (peak_device_bytes) and init_ms of the attempt "
       "that loaded each model (attempt log).",
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
       "Items per question_type in each dataset split (distinct item ids).", question_types_spec},
      {"accuracy-by-type", "figure1", "6. Accuracy per question type",
       "Accuracy per question_type per model on labeled splits (results.json accuracy rows), "
       "95% Wilson interval; open_ended items, never scored, are left out.",
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
       "output) against accuracy with its 95% Wilson interval; where every item has its "
       "energy_j, a radio button puts average joules per item on the x axis instead.",
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
      {"average-energy", "figure4", "Average energy per item",
       "energy_j / items per model and dataset (results.json usage: present only when every item "
       "has its energy_j); hover for joules per correct answer and per output token. Without a "
       "meter, why (run metadata energy.unavailable).",
       average_energy_spec},
      {"fidelity-kl", "figure5", "1. KL per item and candidate",
       "KL(reference ‖ candidate) of every measured item (fidelity.json candidates[].items[]: "
       "answer_kl over the answer letters, trace_kl_mean over the reasoning trace), one tick "
       "each; the summary's answer_kl_mean, answer_kl_p99 and trace_kl_mean as points. Symlog "
       "scale: 0 (a candidate equal to the reference) is drawn.",
       fidelity_kl_spec},
      {"fidelity-flips", "figure5", "2. Flipped answers",
       "The items whose most probable letter changes (summary.flipped), per candidate: "
       "reference_choice → candidate_choice, coloured by what the flip does to correctness "
       "(reference_correct, candidate_correct).",
       fidelity_flips_spec},
      {"fidelity-size", "figure5", "3. Accuracy against weight size",
       "Accuracy on the measured items (summary.reference_accuracy, candidate_accuracy, with the "
       "95% Wilson interval) against weight_bytes at the types loaded (use.weight_bytes), for the "
       "reference and each candidate.",
       fidelity_size_spec},
  };
  return panels;
}

json opt(const std::optional<double>& v) { return v ? json(*v) : json(); }

json message_spec(const std::vector<std::string>& lines) {
  json values = json::array();
  std::size_t longest = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    values.push_back({{"line", lines[i]}, {"i", i}});
    longest = std::max(longest, lines[i].size());
  }
  // About 6.5 pixels a character at 12 px: every line whole, never cut with an ellipsis.
  return {{"data", {{"values", values}}},
          {"width", std::max<std::size_t>(300, longest * 13 / 2)},
          {"height", std::max<std::size_t>(40, 18 * lines.size())},
          {"view", {{"stroke", nullptr}}},
          {"mark",
           {{"type", "text"},
            {"align", "left"},
            {"baseline", "middle"},
            {"fontSize", 12},
            {"color", "#444"}}},
          {"encoding",
           {{"x", {{"value", 0}}},
            {"y", {{"field", "i"}, {"type", "ordinal"}, {"axis", nullptr}}},
            {"text", {{"field", "line"}}}}}};
}

namespace {

constexpr std::size_t kShortLabel = 24;  // bytes: names up to this long are shown whole

// The first n bytes of s, not cutting a UTF-8 sequence.
std::string utf8_head(const std::string& s, std::size_t n) {
  if (n >= s.size()) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// The last n bytes of s, not cutting a UTF-8 sequence.
std::string utf8_tail(const std::string& s, std::size_t n) {
  if (n >= s.size()) return s;
  std::size_t from = s.size() - n;
  while (from < s.size() && (static_cast<unsigned char>(s[from]) & 0xC0) == 0x80) ++from;
  return s.substr(from);
}

}  // namespace

std::vector<std::string> short_model_labels(const std::vector<std::string>& names) {
  bool all_short = true;
  for (const auto& n : names) all_short = all_short && n.size() <= kShortLabel;
  if (all_short) return names;
  // What the names share at the start and at the end says nothing: keep a hint of it and
  // the part that tells them apart.
  std::size_t prefix = 0, suffix = 0;
  if (names.size() > 1) {
    prefix = names[0].size();
    suffix = names[0].size();
    for (const auto& n : names) {
      std::size_t p = 0;
      while (p < prefix && p < n.size() && n[p] == names[0][p]) ++p;
      prefix = p;
    }
    for (const auto& n : names) {
      std::size_t k = 0;
      while (k < suffix && k < n.size() - prefix && k < names[0].size() - prefix &&
             n[n.size() - 1 - k] == names[0][names[0].size() - 1 - k]) {
        ++k;
      }
      suffix = k;
    }
  }
  std::vector<std::string> out;
  for (const auto& n : names) {
    const std::string head = n.substr(0, prefix);
    const std::string mid = n.substr(prefix, n.size() - prefix - suffix);
    const std::string tail = n.substr(n.size() - suffix);
    std::string label = (head.size() > 12 ? utf8_head(head, 6) + "…" + utf8_tail(head, 4) : head) +
                        mid +
                        (tail.size() > 12 ? utf8_head(tail, 5) + "…" + utf8_tail(tail, 5) : tail);
    if (label.size() > 2 * kShortLabel) {
      label = utf8_head(label, kShortLabel - 2) + "…" + utf8_tail(label, kShortLabel - 2);
    }
    out.push_back(label);
  }
  return out;
}

json model_label_expr(const RunView& run) { return short_label_expr(run.model_names()); }

json short_label_expr(const std::vector<std::string>& names) {
  const auto labels = short_model_labels(names);
  if (labels == names) return nullptr;
  // ["short", ...][indexof(["name", ...], datum.value)]: JSON strings are Vega string literals.
  return fmt::format("{}[indexof({}, datum.value)] || datum.value",
                     json(labels).dump(-1, ' ', false, json::error_handler_t::replace),
                     json(names).dump(-1, ' ', false, json::error_handler_t::replace));
}

json model_axis(const RunView& run, const std::string& field) {
  json axis = {{"labelLimit", 190}};
  if (json expr = model_label_expr(run); !expr.is_null()) axis["labelExpr"] = expr;
  return {{"field", field},
          {"type", "nominal"},
          {"title", nullptr},
          {"sort", run.model_names()},
          {"axis", axis}};
}

json model_legend(const RunView& run) {
  json legend = {{"orient", "bottom"}, {"labelLimit", 260}, {"columns", 1}};
  if (json expr = model_label_expr(run); !expr.is_null()) legend["labelExpr"] = expr;
  return legend;
}

json accuracy_bars_spec(json rows, const json& y_encoding, const std::string& offset_field,
                        const std::string& color_title, int rows_drawn) {
  const json tooltip = json::array({{{"field", "model"}},
                                    {{"field", "dataset"}},
                                    {{"field", "split"}},
                                    {{"field", "question_type"}},
                                    {{"field", "accuracy"}, {"format", ".1%"}},
                                    {{"field", "ci_low"}, {"format", ".1%"}},
                                    {{"field", "ci_high"}, {"format", ".1%"}},
                                    {{"field", "correct"}},
                                    {{"field", "scored"}},
                                    {{"field", "items"}},
                                    {{"field", "note"}}});
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
       json::array({{{"transform", {{{"filter", "datum.accuracy != null"}}}},
                     {"mark", {{"type", "bar"}}},
                     {"encoding",
                      {{"x", x},
                       {"color",
                        {{"field", offset_field},
                         {"type", "nominal"},
                         {"title", color_title},
                         {"legend", {{"orient", "bottom"}, {"labelLimit", 220}, {"columns", 2}}}}},
                       {"tooltip", tooltip}}}},
                    {{"transform", {{{"filter", "datum.accuracy != null"}}}},
                     {"mark", {{"type", "rule"}, {"color", "#222"}}},
                     {"encoding",
                      {{"x", {{"field", "ci_low"}, {"type", "quantitative"}}},
                       {"x2", {{"field", "ci_high"}}},
                       {"tooltip", tooltip}}}},
                    {{"transform", {{{"filter", "datum.accuracy == null"}}}},
                     {"mark",
                      {{"type", "text"},
                       {"align", "left"},
                       {"dx", 3},
                       {"color", "#555"},
                       {"fontStyle", "italic"}}},
                     {"encoding",
                      {{"x", {{"datum", 0}, {"type", "quantitative"}}},
                       {"text", {{"field", "note_label"}}},
                       {"tooltip", tooltip}}}}})},
      {"resolve", {{"scale", {{"x", "shared"}}}}}};
}

}  // namespace clinbench::report
