// The comparison of two runs (`clinbench report --compare RUN_A RUN_B`): the same models on the
// same items, side by side, with the paired tests of stats.h.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <system_error>
#include <tuple>

#include "clinbench/report.h"
#include "clinbench/stats.h"
#include "report/document.h"
#include "report/panels.h"

namespace clinbench {

using nlohmann::json;

namespace report {

namespace {

using Key = std::pair<std::string, std::string>;  // (dataset, item_id)

std::map<Key, const ItemRecord*> items_of(const RunView& run, const std::string& model) {
  std::map<Key, const ItemRecord*> out;
  for (const auto& it : run.items) {
    if (it.model == model) out.try_emplace({it.dataset, it.item_id}, &it);
  }
  return out;
}

// Models of the same name; or the only model of each run when each has one.
std::vector<std::pair<std::string, std::string>> pairs_by_name(const RunView& a, const RunView& b) {
  const auto na = a.model_names();
  const auto nb = b.model_names();
  std::vector<std::pair<std::string, std::string>> pairs;
  const std::set<std::string> in_b(nb.begin(), nb.end());
  for (const auto& n : na) {
    if (in_b.count(n)) pairs.emplace_back(n, n);
  }
  if (pairs.empty() && na.size() == 1 && nb.size() == 1) pairs.emplace_back(na[0], nb[0]);
  return pairs;
}

std::string list_models(const RunView& run) {
  std::string out;
  for (const auto& n : run.model_names()) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

// The pairs asked for, each model checked against its run.
Result<std::vector<std::pair<std::string, std::string>>> requested_pairs(
    const std::vector<ModelPair>& pairs, const RunView& a, const RunView& b) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto na = a.model_names();
  const auto nb = b.model_names();
  for (const auto& p : pairs) {
    const std::string spec = fmt::format("--pair {}={}", p.a, p.b);
    for (const auto& [name, names, run, which] :
         {std::tuple{&p.a, &na, &a, "A"}, std::tuple{&p.b, &nb, &b, "B"}}) {
      if (std::find(names->begin(), names->end(), *name) == names->end()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("{}: run {} ({}) has no model '{}' (its models: {})", spec,
                                      which, run->dir.string(), *name, list_models(*run)));
      }
    }
    if (std::find(out.begin(), out.end(), std::pair{p.a, p.b}) != out.end()) {
      return make_error(ErrorCode::kInvalidArgument, spec + ": given twice");
    }
    out.emplace_back(p.a, p.b);
  }
  return out;
}

std::string strategy_of(const RunView& run, const std::string& model) {
  for (const auto& m : run.models) {
    if (m.name == model) return m.strategy;
  }
  return "";
}

std::string adapters_of(const RunView& run, const std::string& model) {
  for (std::size_t i = 0; i < run.models.size() && i < run.attempt_logs.size(); ++i) {
    if (run.models[i].name == model) return model_adapters(run.attempt_logs[i]);
  }
  return "";
}

// Energy per item on the same items: the mean of each run and the paired-bootstrap interval of
// the difference, over the items with an energy_j in both runs.
void add_energy(json& row,
                const std::vector<std::pair<const ItemRecord*, const ItemRecord*>>& pairs) {
  std::vector<std::optional<double>> ea, eb;
  for (const auto& [ra, rb] : pairs) {
    ea.push_back(ra->energy_j);
    eb.push_back(rb->energy_j);
  }
  const auto d = paired_mean_bootstrap(ea, eb);
  row["energy_pairs"] = d ? d->pairs : 0;
  row["energy_a_j"] = d ? json(d->mean_a) : json();
  row["energy_b_j"] = d ? json(d->mean_b) : json();
  row["energy_difference_j"] = d ? json(d->difference) : json();
  row["energy_ci_low"] = d ? json(d->interval.low) : json();
  row["energy_ci_high"] = d ? json(d->interval.high) : json();
  row["energy_note"] = d ? json() : json("no item has its energy in both runs");
}

// One comparison row over `keys` (every dataset when dataset is empty).
json compare_row(const std::string& ma, const std::string& mb, const std::string& dataset,
                 const std::vector<std::pair<const ItemRecord*, const ItemRecord*>>& pairs) {
  std::vector<std::optional<bool>> ca, cb;
  for (const auto& [ra, rb] : pairs) {
    ca.push_back(ra->correct);
    cb.push_back(rb->correct);
  }
  json row = {{"model_a", ma},
              {"model_b", mb},
              {"label", (ma == mb ? ma : ma + " / " + mb)},
              {"dataset", dataset.empty() ? json() : json(dataset)},
              {"scope", dataset.empty() ? std::string("all datasets") : dataset},
              {"row_label", (ma == mb ? ma : ma + " / " + mb) + " · " +
                                (dataset.empty() ? std::string("all datasets") : dataset)},
              {"common_items", pairs.size()}};
  auto m = mcnemar_exact(ca, cb);
  if (!m) return row;  // lengths are equal by construction
  row["pairs"] = m->pairs;
  row["skipped"] = m->skipped;
  row["both_correct"] = m->both_correct;
  row["both_wrong"] = m->both_wrong;
  row["only_a"] = m->only_a;
  row["only_b"] = m->only_b;
  row["mcnemar_p"] = m->pairs > 0 ? json(m->p_value) : json();
  // Accuracies on the pairs (items scored in both runs), with their Wilson intervals.
  std::vector<std::optional<bool>> pa, pb;
  for (std::size_t i = 0; i < ca.size(); ++i) {
    if (ca[i] && cb[i]) {
      pa.push_back(ca[i]);
      pb.push_back(cb[i]);
    }
  }
  const AccuracySummary sa = summarize_accuracy(pa);
  const AccuracySummary sb = summarize_accuracy(pb);
  row["accuracy_a"] = opt(sa.accuracy);
  row["accuracy_b"] = opt(sb.accuracy);
  row["a_ci_low"] = sa.interval ? json(sa.interval->low) : json();
  row["a_ci_high"] = sa.interval ? json(sa.interval->high) : json();
  row["b_ci_low"] = sb.interval ? json(sb.interval->low) : json();
  row["b_ci_high"] = sb.interval ? json(sb.interval->high) : json();
  auto d = paired_bootstrap(ca, cb);
  row["difference"] = d ? json(d->difference) : json();
  row["ci_low"] = d ? json(d->interval.low) : json();
  row["ci_high"] = d ? json(d->interval.high) : json();
  row["resamples"] = d ? json(d->resamples) : json();
  row["bootstrap_seed"] = d ? json(d->seed) : json();
  row["note"] = m->pairs > 0 ? json() : json("no item scored in both runs");
  add_energy(row, pairs);
  return row;
}

json accuracy_pairs_spec(const json& rows) {
  json values = json::array();
  for (const auto& r : rows) {
    for (const auto& [run, acc, lo, hi] :
         {std::tuple{"A", "accuracy_a", "a_ci_low", "a_ci_high"},
          std::tuple{"B", "accuracy_b", "b_ci_low", "b_ci_high"}}) {
      values.push_back({{"label", r["label"]},
                        {"row_label", r["row_label"]},
                        {"scope", r["scope"]},
                        {"run", run},
                        {"accuracy", r.value(acc, json())},
                        {"ci_low", r.value(lo, json())},
                        {"ci_high", r.value(hi, json())},
                        {"pairs", r.value("pairs", json())}});
    }
  }
  const json y = {{"field", "row_label"},
                  {"type", "nominal"},
                  {"title", nullptr},
                  {"axis", {{"labelLimit", 220}}}};
  const json x = {{"field", "accuracy"},
                  {"type", "quantitative"},
                  {"scale", {{"domain", {0, 1}}}},
                  {"axis", {{"format", ".0%"}}},
                  {"title", "accuracy on the paired items (95% Wilson)"}};
  return {
      {"data", {{"values", values}}},
      {"width", 420},
      {"height", std::max<std::size_t>(60, 34 * rows.size())},
      {"transform", {{{"filter", "datum.accuracy != null"}}}},
      {"encoding",
       {{"y", y},
        {"yOffset", {{"field", "run"}, {"type", "nominal"}}},
        {"color", {{"field", "run"}, {"type", "nominal"}, {"legend", {{"orient", "bottom"}}}}}}},
      {"layer", json::array({{{"mark", {{"type", "rule"}}},
                              {"encoding",
                               {{"x", {{"field", "ci_low"}, {"type", "quantitative"}}},
                                {"x2", {{"field", "ci_high"}}}}}},
                             {{"mark", {{"type", "point"}, {"filled", true}, {"size", 70}}},
                              {"encoding",
                               {{"x", x},
                                {"tooltip", json::array({{{"field", "label"}},
                                                         {{"field", "scope"}},
                                                         {{"field", "run"}},
                                                         {{"field", "accuracy"}, {"format", ".1%"}},
                                                         {{"field", "pairs"}}})}}}}})}};
}

json difference_spec(const json& rows) {
  json values = json::array();
  for (const auto& r : rows) {
    if (!r.value("difference", json()).is_null()) values.push_back(r);
  }
  if (values.empty()) {
    return message_spec({"No paired difference: no item is scored in both runs.",
                         "Accuracy needs labeled items of a scored question type."});
  }
  return {{"data", {{"values", values}}},
          {"width", 420},
          {"height", std::max<std::size_t>(60, 26 * values.size())},
          {"encoding",
           {{"y",
             {{"field", "row_label"},
              {"type", "nominal"},
              {"title", nullptr},
              {"axis", {{"labelLimit", 220}}}}},
            {"tooltip", json::array({{{"field", "label"}},
                                     {{"field", "scope"}},
                                     {{"field", "difference"}, {"format", "+.1%"}},
                                     {{"field", "ci_low"}, {"format", "+.1%"}},
                                     {{"field", "ci_high"}, {"format", "+.1%"}},
                                     {{"field", "mcnemar_p"}, {"format", ".4f"}},
                                     {{"field", "only_a"}},
                                     {{"field", "only_b"}},
                                     {{"field", "pairs"}}})}}},
          {"layer", json::array({{{"mark", {{"type", "bar"}, {"color", "#4c78a8"}}},
                                  {"encoding",
                                   {{"x",
                                     {{"field", "difference"},
                                      {"type", "quantitative"},
                                      {"scale", {{"domain", {-1, 1}}}},
                                      {"axis", {{"format", "+.0%"}}},
                                      {"title", "accuracy A − B (95% paired bootstrap)"}}}}}},
                                 {{"mark", {{"type", "rule"}, {"color", "#222"}}},
                                  {"encoding",
                                   {{"x", {{"field", "ci_low"}, {"type", "quantitative"}}},
                                    {"x2", {{"field", "ci_high"}}}}}}})}};
}

// The error when the runs share no model name and do not have one model each; it lists each
// run's models.
std::unexpected<Error> no_model_pairs_error(const std::filesystem::path& run_a, const RunView& a,
                                            const std::filesystem::path& run_b, const RunView& b) {
  std::string na, nb;
  for (const auto& n : a.model_names()) na += (na.empty() ? "" : ", ") + n;
  for (const auto& n : b.model_names()) nb += (nb.empty() ? "" : ", ") + n;
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("--compare: {} (models: {}) and {} (models: {}) share no model "
                                "name, and do not have one model each: name the models to "
                                "compare with --pair A_MODEL=B_MODEL",
                                run_a.string(), na.empty() ? "none" : na, run_b.string(),
                                nb.empty() ? "none" : nb));
}

// The rows the comparison document gathers over every model pair.
struct ComparisonRows {
  json tests = json::array();       // compare_row per model pair and dataset (and all datasets)
  json discordant = json::array();  // items answered differently in the two runs
  json models = json::array();      // the model pairs with their item counts
};

// The "compare-items" row of an item whose choice or correctness differs between the runs.
json discordant_row(const std::string& label, const Key& key, const ItemRecord& ra,
                    const ItemRecord& rb) {
  auto c = [](const std::optional<bool>& v) { return v ? json(*v) : json(); };
  return {{"model", label},
          {"dataset", key.first},
          {"item_id", key.second},
          {"split", ra.split},
          {"question_type", ra.question_type},
          {"correct_answer", ra.correct_answer ? json(*ra.correct_answer) : json()},
          {"choice_a", ra.choice},
          {"correct_a", c(ra.correct)},
          {"choice_b", rb.choice},
          {"correct_b", c(rb.correct)}};
}

// Adds model ma of run A against model mb of run B to out: the paired tests per dataset (and
// over all datasets when there are several), the items answered differently, the model row.
void compare_model_pair(const RunView& a, const RunView& b, const std::string& ma,
                        const std::string& mb, ComparisonRows& out) {
  const auto ia = items_of(a, ma);
  const auto ib = items_of(b, mb);
  const std::string label = ma == mb ? ma : fmt::format("{} / {}", ma, mb);
  std::map<std::string, std::vector<std::pair<const ItemRecord*, const ItemRecord*>>> by_dataset;
  std::vector<std::pair<const ItemRecord*, const ItemRecord*>> all;
  for (const auto& [key, ra] : ia) {
    auto it = ib.find(key);
    if (it == ib.end()) continue;
    by_dataset[key.first].emplace_back(ra, it->second);
    all.emplace_back(ra, it->second);
    if (ra->choice != it->second->choice || ra->correct != it->second->correct) {
      out.discordant.push_back(discordant_row(label, key, *ra, *it->second));
    }
  }
  for (const auto& [dataset, ps] : by_dataset)
    out.tests.push_back(compare_row(ma, mb, dataset, ps));
  if (by_dataset.size() > 1) out.tests.push_back(compare_row(ma, mb, "", all));
  out.models.push_back({{"model_a", ma},
                        {"strategy_a", strategy_of(a, ma)},
                        {"adapters_a", adapters_of(a, ma)},
                        {"items_a", ia.size()},
                        {"model_b", mb},
                        {"strategy_b", strategy_of(b, mb)},
                        {"adapters_b", adapters_of(b, mb)},
                        {"items_b", ib.size()},
                        {"common_items", all.size()}});
}

// The document's "figures": accuracy of A and B, and the paired difference A − B.
json compare_figures(const json& rows) {
  const Figure fig{"compare", "Run A against run B on the same items", 2};
  return json::array({figure_json(
      fig, json::array({panel_json("compare-accuracy", "Accuracy, A and B",
                                   "Accuracy of each model in run A and run B on the items "
                                   "scored in both (95% Wilson interval).",
                                   accuracy_pairs_spec(rows)),
                        panel_json("compare-difference", "Paired difference A − B",
                                   "Accuracy difference on the same items with the 95% "
                                   "paired-bootstrap interval (stats.h paired_bootstrap, "
                                   "10000 resamples, fixed seed); McNemar's exact p on "
                                   "hover.",
                                   difference_spec(rows))}))});
}

// The document's "tables": the model pairs, the paired tests, the items answered differently.
json compare_tables(const ComparisonRows& rows, bool by_request) {
  auto col = [](const char* k, const char* fmt_ = nullptr) {
    json c = {{"key", k}};
    if (fmt_) c["format"] = fmt_;
    return c;
  };
  return json::array(
      {{{"id", "compare-models"},
        {"title", "Models paired"},
        {"description", by_request
                            ? "The models paired by --pair: each model of run A against its model "
                              "of run B, with the LoRA adapters each applied on its base."
                            : "Models of the same name in both runs (or the only model of each), "
                              "with the LoRA adapters each applied on its base."},
        {"columns", json::array({col("model_a"), col("strategy_a"), col("adapters_a"),
                                 col("items_a"), col("model_b"), col("strategy_b"),
                                 col("adapters_b"), col("items_b"), col("common_items")})},
        {"rows", rows.models}},
       {{"id", "compare-tests"},
        {"title", "Paired tests"},
        {"description",
         "Per model and dataset (and over all datasets): the 2×2 table of the items scored in "
         "both runs, McNemar's exact p, and the paired-bootstrap interval of A − B."},
        {"columns", json::array({col("label"), col("scope"), col("common_items"), col("pairs"),
                                 col("both_correct"), col("both_wrong"), col("only_a"),
                                 col("only_b"), col("mcnemar_p", "p"), col("accuracy_a", "percent"),
                                 col("accuracy_b", "percent"), col("difference", "signed_percent"),
                                 col("ci_low", "signed_percent"), col("ci_high", "signed_percent"),
                                 col("note")})},
        {"rows", rows.tests}},
       {{"id", "compare-energy"},
        {"title", "Energy per item"},
        {"description",
         "Per model and dataset (and over all datasets): mean energy_j per item in each run on "
         "the items measured in both, and the paired-bootstrap 95% interval of A − B "
         "(stats.h paired_mean_bootstrap, 10000 resamples, fixed seed)."},
        {"columns",
         json::array({col("label"), col("scope"), col("energy_pairs"), col("energy_a_j", "joules"),
                      col("energy_b_j", "joules"), col("energy_difference_j", "joules"),
                      col("energy_ci_low", "joules"), col("energy_ci_high", "joules"),
                      col("energy_note")})},
        {"rows", rows.tests}},
       {{"id", "compare-items"},
        {"title", "Items answered differently"},
        {"description", "Items whose choice or correctness differs between the runs."},
        {"columns", json::array({col("model"), col("dataset"), col("item_id"), col("split"),
                                 col("question_type"), col("correct_answer"), col("choice_a"),
                                 col("correct_a"), col("choice_b"), col("correct_b")})},
        {"rows", rows.discordant}}});
}

}  // namespace

}  // namespace report

Result<ModelPair> parse_model_pair(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--pair '{}': expected A_MODEL=B_MODEL (a model of run A, a "
                                  "model of run B)",
                                  text));
  }
  return ModelPair{text.substr(0, eq), text.substr(eq + 1)};
}

Result<json> compare_data(const std::filesystem::path& run_a, const std::filesystem::path& run_b,
                          const std::vector<ModelPair>& model_pairs) {
  std::error_code ec;
  const bool one_run = std::filesystem::equivalent(run_a, run_b, ec);
  if (one_run && model_pairs.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--compare: {} is compared with itself: give the models to "
                                  "compare with --pair A_MODEL=B_MODEL",
                                  run_a.string()));
  }
  auto a = report::load_run(run_a);
  if (!a) return std::unexpected(a.error().with_context("run A"));
  auto b = report::load_run(run_b);
  if (!b) return std::unexpected(b.error().with_context("run B"));
  std::vector<std::pair<std::string, std::string>> pairs;
  if (model_pairs.empty()) {
    pairs = report::pairs_by_name(*a, *b);
    if (pairs.empty()) return report::no_model_pairs_error(run_a, *a, run_b, *b);
  } else {
    auto p = report::requested_pairs(model_pairs, *a, *b);
    if (!p) return std::unexpected(p.error());
    pairs = std::move(*p);
  }
  report::ComparisonRows rows;
  for (const auto& [ma, mb] : pairs) report::compare_model_pair(*a, *b, ma, mb, rows);
  json doc = report::document_header(
      "compare", one_run ? fmt::format("clinbench comparison: models of {}", run_a.string())
                         : fmt::format("clinbench comparison: {} (A) vs {} (B)", run_a.string(),
                                       run_b.string()));
  doc["run_a"] = run_a.string();
  doc["run_b"] = run_b.string();
  doc["paired_by"] = model_pairs.empty() ? "name" : "--pair";
  doc["notices"] = report::run_notices(*a, one_run ? "" : "Run A: ");
  if (!one_run) {
    for (auto& n : report::run_notices(*b, "Run B: ")) doc["notices"].push_back(std::move(n));
  }
  doc["comparisons"] = rows.tests;
  doc["figures"] = report::compare_figures(rows.tests);
  doc["tables"] = report::compare_tables(rows, !model_pairs.empty());
  return doc;
}

}  // namespace clinbench
