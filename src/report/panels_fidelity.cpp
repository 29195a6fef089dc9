// Panels of quantization fidelity (figure 5): RUN_DIR/fidelity.json, written by `clinbench
// fidelity ... --out RUN_DIR` (docs/fidelity.md), drawn as it is. Every number is a value of the
// file, copied under the file's own key (`source` names it where rows are reshaped), never
// recomputed; only labels are added.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "report/panels.h"

namespace clinbench::report {

using nlohmann::json;

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

// j[key], or null when j is no object or has no such key (the file is read as written: a
// missing field is drawn as missing, never as 0).
const json& field(const json& j, const char* key) {
  static const json null_json;
  if (!j.is_object()) return null_json;
  const auto it = j.find(key);
  return it == j.end() ? null_json : *it;
}

const json& array_field(const json& j, const char* key) {
  static const json empty = json::array();
  const json& a = field(j, key);
  return a.is_array() ? a : empty;
}

// Why there is nothing to draw: no file, or a file that cannot be read; nullopt when there is
// one to draw.
std::optional<json> missing_fidelity(const RunView& run, bool first_panel) {
  if (!run.fidelity_problem.empty()) {
    return message_spec({"fidelity.json cannot be drawn:", run.fidelity_problem});
  }
  if (run.fidelity.is_null()) {
    if (!first_panel) return message_spec({"No fidelity.json in this run directory (panel 1)."});
    return message_spec(
        {"No fidelity.json in this run directory.",
         "clinbench fidelity --reference REF --candidate quantize:q4 --dataset D --out RUN_DIR",
         "measures quantized candidates on the dataset's items and writes it; then report again."});
  }
  if (array_field(run.fidelity, "candidates").empty()) {
    return message_spec({"fidelity.json has no candidate."});
  }
  return std::nullopt;
}

std::string label_of(const json& model) { return str(field(model, "label")); }

// Candidate labels in file order; a label given twice gets " #2", " #3", ... so each candidate
// keeps its own row.
std::vector<std::string> candidate_labels(const json& doc) {
  std::vector<std::string> labels;
  std::map<std::string, int> seen;
  for (const auto& c : array_field(doc, "candidates")) {
    const std::string label = label_of(field(c, "model"));
    const int n = ++seen[label];
    labels.push_back(n == 1 ? label : fmt::format("{} #{}", label, n));
  }
  return labels;
}

json candidate_axis(const std::vector<std::string>& labels, const char* title) {
  json axis = {{"labelLimit", 190}};
  if (json expr = short_label_expr(labels); !expr.is_null()) axis["labelExpr"] = expr;
  return {{"field", "candidate"},
          {"type", "nominal"},
          {"title", title ? json(title) : json()},
          {"sort", labels},
          {"scale", {{"domain", labels}}},
          {"axis", axis}};
}

// The smallest KL above 0 in the rows, as the linear part of a symlog scale: 0 (a candidate
// equal to the reference) stays drawable and small KLs are not crushed against it.
double symlog_constant(const json& rows) {
  double smallest = 0;
  for (const auto& r : rows) {
    const json& v = field(r, "kl");
    if (!v.is_number()) continue;
    const double x = v.get<double>();
    if (x > 0 && (smallest == 0 || x < smallest)) smallest = x;
  }
  return smallest > 0 ? std::clamp(smallest, 1e-6, 1e-2) : 1e-3;
}

// Axis ticks of that scale: 0 and the powers of ten from the constant to the largest KL (Vega
// spaces symlog ticks linearly, which bunches them at the top).
json symlog_ticks(const json& rows, double constant) {
  double largest = 0;
  for (const auto& r : rows) {
    const json& v = field(r, "kl");
    if (v.is_number()) largest = std::max(largest, v.get<double>());
  }
  json ticks = json::array({0});
  if (largest <= 0) return ticks;
  const int lo = static_cast<int>(std::floor(std::log10(constant)));
  const int hi = static_cast<int>(std::ceil(std::log10(largest)));
  const int step = hi - lo > 6 ? 2 : 1;
  for (int k = lo; k <= hi; k += step) ticks.push_back(std::pow(10.0, k));
  return ticks;
}

}  // namespace

json fidelity_kl_spec(const RunView& run) {
  if (auto why = missing_fidelity(run, true)) return *why;
  const json& doc = run.fidelity;
  const auto labels = candidate_labels(doc);
  // One row per item and measure: the answer letters' KL and the reasoning trace's mean KL.
  const std::vector<std::pair<const char*, const char*>> measures = {
      {"answer_kl", "answer letters"}, {"trace_kl_mean", "reasoning trace"}};
  json rows = json::array();
  json summary = json::array();
  const json& candidates = array_field(doc, "candidates");
  for (std::size_t c = 0; c < candidates.size(); ++c) {
    for (const auto& it : array_field(candidates[c], "items")) {
      for (const auto& [key, measure] : measures) {
        rows.push_back({{"candidate", labels[c]},
                        {"id", field(it, "id")},
                        {"measure", measure},
                        {"source", key},
                        {"kl", field(it, key)},
                        {"reference_choice", field(it, "reference_choice")},
                        {"candidate_choice", field(it, "candidate_choice")},
                        {"flipped", field(it, "flipped")},
                        {"trace_tokens", field(it, "trace_tokens")}});
      }
    }
    const json& s = field(candidates[c], "summary");
    for (const auto& [key, measure, stat] :
         {std::tuple{"answer_kl_mean", "answer letters", "mean"},
          std::tuple{"answer_kl_p99", "answer letters", "99th percentile"},
          std::tuple{"trace_kl_mean", "reasoning trace", "mean"}}) {
      summary.push_back({{"candidate", labels[c]},
                         {"measure", measure},
                         {"stat", stat},
                         {"source", key},
                         {"kl", field(s, key)},
                         {"items", field(s, "items")}});
    }
  }
  const double constant = symlog_constant(rows);
  const json x = {{"field", "kl"},
                  {"type", "quantitative"},
                  {"scale", {{"type", "symlog"}, {"constant", constant}}},
                  {"axis", {{"format", "~g"}, {"values", symlog_ticks(rows, constant)}}},
                  {"title", "KL(reference ‖ candidate), nats (symlog)"}};
  const json color = {
      {"field", "measure"},
      {"type", "nominal"},
      {"title", nullptr},
      {"scale",
       {{"domain", {"answer letters", "reasoning trace"}}, {"range", {"#1f77b4", "#ff7f0e"}}}},
      {"legend", {{"orient", "bottom"}}}};
  const json tooltip = json::array({{{"field", "candidate"}},
                                    {{"field", "id"}, {"title", "item"}},
                                    {{"field", "measure"}},
                                    {{"field", "kl"}, {"format", ".4g"}, {"title", "KL (nats)"}},
                                    {{"field", "reference_choice"}},
                                    {{"field", "candidate_choice"}},
                                    {{"field", "flipped"}},
                                    {{"field", "trace_tokens"}}});
  const json summary_tooltip =
      json::array({{{"field", "candidate"}},
                   {{"field", "measure"}},
                   {{"field", "stat"}},
                   {{"field", "kl"}, {"format", ".4g"}, {"title", "KL (nats)"}},
                   {{"field", "items"}}});
  const json y = candidate_axis(labels, nullptr);
  const json offset = {{"field", "measure"},
                       {"type", "nominal"},
                       {"scale", {{"domain", {"answer letters", "reasoning trace"}}}}};
  return {
      {"data", {{"values", rows}}},
      {"width", 300},
      {"height", std::max<std::size_t>(80, 44 * labels.size())},
      {"layer",
       json::array(
           {{{"mark", {{"type", "tick"}, {"thickness", 1.5}, {"opacity", 0.6}}},
             {"encoding",
              {{"x", x}, {"y", y}, {"yOffset", offset}, {"color", color}, {"tooltip", tooltip}}}},
            {{"data", {{"values", summary}}},
             {"mark",
              {{"type", "point"},
               {"filled", true},
               {"size", 60},
               {"stroke", "#222"},
               {"strokeWidth", 1}}},
             {"encoding",
              {{"x", x},
               {"y", y},
               {"yOffset", offset},
               {"color", color},
               {"shape",
                {{"field", "stat"},
                 {"type", "nominal"},
                 {"title", nullptr},
                 {"scale",
                  {{"domain", {"mean", "99th percentile"}},
                   {"range", {"diamond", "triangle-right"}}}},
                 {"legend", {{"orient", "bottom"}}}}},
               {"tooltip", summary_tooltip}}}}})},
      {"resolve", {{"scale", {{"x", "shared"}}}}}};
}

json fidelity_flips_spec(const RunView& run) {
  if (auto why = missing_fidelity(run, false)) return *why;
  const json& doc = run.fidelity;
  const auto labels = candidate_labels(doc);
  json rows = json::array();
  std::vector<std::string> ids;  // in order of first flip
  std::set<std::string> seen_ids;
  const json& candidates = array_field(doc, "candidates");
  for (std::size_t c = 0; c < candidates.size(); ++c) {
    // The summary lists the flipped items; their letters are in items[].
    std::map<std::string, const json*> by_id;
    for (const auto& it : array_field(candidates[c], "items")) by_id[str(field(it, "id"))] = &it;
    for (const auto& f : array_field(field(candidates[c], "summary"), "flipped")) {
      const std::string id = str(f);
      static const json none = json::object();
      const json& it = by_id.count(id) ? *by_id[id] : none;
      const json& ref_ok = field(it, "reference_correct");
      const json& cand_ok = field(it, "candidate_correct");
      std::string effect = "unlabeled";
      if (ref_ok.is_boolean() && cand_ok.is_boolean()) {
        effect =
            ref_ok == cand_ok ? "both wrong" : (cand_ok.get<bool>() ? "now right" : "now wrong");
      }
      rows.push_back({{"candidate", labels[c]},
                      {"id", id},
                      {"answer", field(it, "answer")},
                      {"reference_choice", field(it, "reference_choice")},
                      {"candidate_choice", field(it, "candidate_choice")},
                      {"reference_correct", ref_ok},
                      {"candidate_correct", cand_ok},
                      {"answer_kl", field(it, "answer_kl")},
                      {"change", str(field(it, "reference_choice")) + " → " +
                                     str(field(it, "candidate_choice"))},
                      {"effect", effect}});
      if (seen_ids.insert(id).second) ids.push_back(id);
    }
  }
  if (rows.empty()) {
    std::vector<std::string> lines = {fmt::format(
        "No answer flips: every candidate puts the reference's letter first on all {} items.",
        field(doc, "items").is_number() ? field(doc, "items").dump() : std::string("the"))};
    for (std::size_t c = 0; c < candidates.size(); ++c) {
      const json& s = field(candidates[c], "summary");
      lines.push_back(fmt::format("{}: flip rate {}", labels[c], field(s, "flip_rate").dump()));
    }
    return message_spec(lines);
  }
  const json tooltip =
      json::array({{{"field", "candidate"}},
                   {{"field", "id"}, {"title", "item"}},
                   {{"field", "reference_choice"}},
                   {{"field", "candidate_choice"}},
                   {{"field", "answer"}, {"title", "label"}},
                   {{"field", "effect"}},
                   {{"field", "answer_kl"}, {"format", ".4g"}, {"title", "answer KL (nats)"}}});
  json x = candidate_axis(labels, nullptr);
  x["axis"]["orient"] = "top";
  x["axis"]["labelAngle"] = labels.size() > 3 ? -30 : 0;
  const json y = {{"field", "id"},
                  {"type", "nominal"},
                  {"title", "item (reference → candidate)"},
                  {"sort", ids},
                  {"axis", {{"labelLimit", 150}}}};
  return {{"data", {{"values", rows}}},
          {"width", std::max<std::size_t>(160, 90 * labels.size())},
          {"height", std::max<std::size_t>(40, 18 * ids.size())},
          {"encoding", {{"x", x}, {"y", y}, {"tooltip", tooltip}}},
          {"layer",
           json::array({{{"mark", {{"type", "rect"}, {"opacity", 0.35}}},
                         {"encoding",
                          {{"color",
                            {{"field", "effect"},
                             {"type", "nominal"},
                             {"title", nullptr},
                             {"scale",
                              {{"domain", {"now wrong", "now right", "both wrong", "unlabeled"}},
                               {"range", {"#d62728", "#2ca02c", "#999999", "#bbbbbb"}}}},
                             {"legend", {{"orient", "bottom"}}}}}}}},
                        {{"mark", {{"type", "text"}, {"fontSize", 11}, {"limit", 85}}},
                         {"encoding", {{"text", {{"field", "change"}}}}}}})}};
}

namespace {

// Accuracy against weight size: 300 x 220 px, labels up to 150 px wide to the right of their
// points.
constexpr int kSizeWidth = 300;
constexpr int kSizeHeight = 220;
constexpr double kLabelWidthPx = 150;
constexpr double kLabelGapPx = 13;  // one line of 11 px text and a little air

// Sets each row's "label_y" (accuracy units): its accuracy, moved down (or, at the bottom, up)
// just enough that no two labels whose boxes would overlap on screen sit on the same line.
// Points close in size and accuracy (candidates a quantization barely changes) would otherwise
// print their names on top of each other.
void place_labels(json& rows, int width, int height) {
  double lo = 0, hi = 0;
  bool first = true;
  for (const auto& r : rows) {
    if (!r["weight_mib"].is_number()) continue;
    const double v = r["weight_mib"].get<double>();
    lo = first ? v : std::min(lo, v);
    hi = first ? v : std::max(hi, v);
    first = false;
  }
  auto px_x = [&](const json& r) {
    if (!r["weight_mib"].is_number() || hi <= lo) return 0.0;
    return (r["weight_mib"].get<double>() - lo) / (hi - lo) * width;
  };
  const double gap = kLabelGapPx / height;  // the y scale is accuracy 0..1 over the height
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    rows[i]["label_y"] = rows[i]["accuracy"];
    if (rows[i]["accuracy"].is_number()) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return rows[a]["accuracy"].get<double>() > rows[b]["accuracy"].get<double>();
  });
  std::vector<std::size_t> placed;
  for (std::size_t i : order) {
    double y = rows[i]["accuracy"].get<double>();
    const double x = px_x(rows[i]);
    auto clash = [&](double yy) {
      for (std::size_t j : placed) {
        if (std::abs(px_x(rows[j]) - x) < kLabelWidthPx &&
            std::abs(rows[j]["label_y"].get<double>() - yy) < gap) {
          return true;
        }
      }
      return false;
    };
    // Down from the point first; when that runs off the bottom, up from it.
    double down = y;
    while (clash(down) && down > 0) down -= gap / 4;
    if (down >= 0 && !clash(down)) {
      y = down;
    } else {
      while (clash(y) && y < 1.2) y += gap / 4;
    }
    rows[i]["label_y"] = y;
    placed.push_back(i);
  }
}

// One row of the size panel: a model's weight bytes and accuracy with its interval, and for a
// candidate (summary not null) how far its answers moved from the reference's.
json size_row(const std::string& label, const std::string& role, const json& model, const json& use,
              const json& accuracy, const json& summary) {
  const json& bytes = field(use, "weight_bytes");
  const json& interval = field(accuracy, "interval");
  const bool has_interval = interval.is_array() && interval.size() == 2;
  return {{"model", label},
          {"role", role},
          {"path", field(model, "path")},
          {"strategy", field(model, "strategy")},
          {"recipe", field(model, "recipe")},
          {"weight_bytes", bytes},
          {"weight_mib", bytes.is_number() ? json(bytes.get<double>() / kMiB) : json()},
          {"bits_per_weight", field(use, "bits_per_weight")},
          {"accuracy", field(accuracy, "accuracy")},
          {"ci_low", has_interval ? interval[0] : json()},
          {"ci_high", has_interval ? interval[1] : json()},
          {"correct", field(accuracy, "correct")},
          {"labeled", field(accuracy, "labeled")},
          {"answer_kl_mean", field(summary, "answer_kl_mean")},
          {"flip_rate", field(summary, "flip_rate")},
          {"mcnemar_p", field(field(summary, "mcnemar"), "p_value")}};
}

// The size panel's rows: the reference, then each candidate of the fidelity document.
json size_rows(const json& doc) {
  const auto labels = candidate_labels(doc);
  const json& candidates = array_field(doc, "candidates");
  json rows = json::array();
  // Every candidate was measured on the same items as the reference: its accuracy is in each
  // candidate's summary (the first one's is drawn).
  const json& reference = field(doc, "reference");
  rows.push_back(size_row(label_of(field(reference, "model")), "reference",
                          field(reference, "model"), field(reference, "use"),
                          field(field(candidates[0], "summary"), "reference_accuracy"), json()));
  for (std::size_t c = 0; c < candidates.size(); ++c) {
    const json& s = field(candidates[c], "summary");
    rows.push_back(size_row(labels[c], "candidate", field(candidates[c], "model"),
                            field(candidates[c], "use"), field(s, "candidate_accuracy"), s));
  }
  return rows;
}

// The tooltip of the size panel's points: every field of a row.
json size_tooltip() {
  return json::array({{{"field", "model"}},
                      {{"field", "role"}},
                      {{"field", "path"}},
                      {{"field", "strategy"}},
                      {{"field", "recipe"}},
                      {{"field", "weight_bytes"}, {"format", ","}},
                      {{"field", "weight_mib"}, {"format", ",.2f"}, {"title", "MiB"}},
                      {{"field", "bits_per_weight"}, {"format", ".2f"}},
                      {{"field", "accuracy"}, {"format", ".1%"}},
                      {{"field", "ci_low"}, {"format", ".1%"}},
                      {{"field", "ci_high"}, {"format", ".1%"}},
                      {{"field", "correct"}},
                      {{"field", "labeled"}},
                      {{"field", "answer_kl_mean"}, {"format", ".4g"}},
                      {{"field", "flip_rate"}, {"format", ".1%"}},
                      {{"field", "mcnemar_p"}, {"format", ".3g"}, {"title", "McNemar p"}}});
}

}  // namespace

json fidelity_size_spec(const RunView& run) {
  if (auto why = missing_fidelity(run, false)) return *why;
  const json& doc = run.fidelity;
  json rows = size_rows(doc);
  bool any_accuracy = false;
  for (const auto& r : rows) any_accuracy = any_accuracy || r["accuracy"].is_number();
  place_labels(rows, kSizeWidth, kSizeHeight);
  if (!any_accuracy) {
    return message_spec({"No accuracy against weight bytes: no measured item is labeled.",
                         fmt::format("{} items measured on {}.", field(doc, "items").dump(),
                                     str(field(doc, "dataset")))});
  }
  const json tooltip = size_tooltip();
  const json x = {{"field", "weight_mib"},
                  {"type", "quantitative"},
                  {"scale", {{"zero", false}, {"nice", true}, {"padding", 16}}},
                  {"axis", {{"format", ",.3~f"}}},
                  {"title", "weight MiB (weight_bytes at the types loaded)"}};
  const json color = {
      {"field", "role"},
      {"type", "nominal"},
      {"title", nullptr},
      {"scale", {{"domain", {"reference", "candidate"}}, {"range", {"#222222", "#1f77b4"}}}},
      {"legend", {{"orient", "bottom"}}}};
  return {{"data", {{"values", rows}}},
          {"width", kSizeWidth},
          {"height", kSizeHeight},
          {"transform", {{{"filter", "datum.accuracy != null"}}}},
          {"layer", json::array({{{"mark", {{"type", "rule"}, {"opacity", 0.6}}},
                                  {"encoding",
                                   {{"x", x},
                                    {"y", {{"field", "ci_low"}, {"type", "quantitative"}}},
                                    {"y2", {{"field", "ci_high"}}},
                                    {"color", color}}}},
                                 {{"mark", {{"type", "point"}, {"filled", true}, {"size", 80}}},
                                  {"encoding",
                                   {{"x", x},
                                    {"y",
                                     {{"field", "accuracy"},
                                      {"type", "quantitative"},
                                      {"scale", {{"domain", {0, 1}}}},
                                      {"axis", {{"format", ".0%"}}},
                                      {"title", "accuracy (95% Wilson interval)"}}},
                                    {"color", color},
                                    {"tooltip", tooltip}}}},
                                 {{"mark",
                                   {{"type", "text"},
                                    {"align", "left"},
                                    {"dx", 7},
                                    {"dy", -7},
                                    {"limit", 150},
                                    {"fontSize", 11}}},
                                  {"encoding",
                                   {{"x", x},
                                    {"y", {{"field", "label_y"}, {"type", "quantitative"}}},
                                    {"text", {{"field", "model"}}},
                                    {"color", color}}}}})}};
}

}  // namespace clinbench::report
