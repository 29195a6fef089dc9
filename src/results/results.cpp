// Results and statistics from stored items (include/clinbench/results.h).
#include "clinbench/results.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

#include "util/utf8.h"

namespace clinbench {

namespace {

using Json = nlohmann::json;

// Order of question types in every table: the CURE-Bench types, other names, then "all".
int type_rank(const std::string& type) {
  if (type == "multi_choice") return 0;
  if (type == "open_ended_multi_choice") return 1;
  if (type == "open_ended") return 2;
  if (type == kAllQuestionTypes) return 4;
  return 3;
}

struct RowKey {
  std::string model, dataset, split, type;
  bool operator<(const RowKey& o) const {
    return std::forward_as_tuple(model, dataset, split, type_rank(type), type) <
           std::forward_as_tuple(o.model, o.dataset, o.split, type_rank(o.type), o.type);
  }
};

struct Group {
  std::vector<std::optional<bool>> correctness;
  std::size_t labeled = 0, scorable = 0, truncated = 0, errors = 0;
  bool all_open_ended = true;
  void add(const ItemRecord& r) {
    correctness.push_back(r.correct);
    if (r.correct_answer) ++labeled;
    if (r.correct_answer && r.question_type != "open_ended") ++scorable;
    if (r.truncated) ++truncated;
    if (!r.error.empty()) ++errors;
    if (r.question_type != "open_ended") all_open_ended = false;
  }
};

// Bytes that are not UTF-8 become U+FFFD, so nlohmann's dump() never throws.
std::string utf8(const std::string& s) { return valid_utf8(s); }

std::size_t display_width(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

Json opt_json(const std::optional<double>& v) { return v ? Json(*v) : Json(); }

std::string percent(double fraction) { return fmt::format("{:.1f}%", 100.0 * fraction); }

std::string points(double fraction) { return fmt::format("{:+.1f}", 100.0 * fraction); }

std::string interval_points(const Interval& i) {
  return fmt::format("[{:+.1f}, {:+.1f}]", 100.0 * i.low, 100.0 * i.high);
}

std::string interval_percent(const Interval& i) {
  return fmt::format("[{:.1f}, {:.1f}]", 100.0 * i.low, 100.0 * i.high);
}

std::string split_label(const std::string& split) { return split.empty() ? "(none)" : split; }

std::string rule_label(const std::string& rule) { return rule.empty() ? "(no rule)" : rule; }

std::string p_value(double p) { return fmt::format("{:.3g}", p); }

// "rule: n, ..." by count, then name.
std::string rules_text(const std::map<std::string, std::size_t>& rules) {
  std::vector<std::pair<std::string, std::size_t>> sorted(rules.begin(), rules.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out;
  for (const auto& [rule, n] : sorted) {
    out += fmt::format("{}{}: {}", out.empty() ? "" : ", ", rule_label(rule), n);
  }
  return out;
}

// Splits with more than one question type, per (model, dataset, split): where an "all" row adds
// something to a table.
std::set<std::tuple<std::string, std::string, std::string>> multi_type_splits(
    const RunResults& results) {
  std::map<std::tuple<std::string, std::string, std::string>, int> types;
  for (const AccuracyRow& row : results.accuracy) {
    if (row.question_type != kAllQuestionTypes) ++types[{row.model, row.dataset, row.split}];
  }
  std::set<std::tuple<std::string, std::string, std::string>> out;
  for (const auto& [key, n] : types) {
    if (n > 1) out.insert(key);
  }
  return out;
}

std::vector<const AccuracyRow*> table_rows(const RunResults& results) {
  const auto multi = multi_type_splits(results);
  std::vector<const AccuracyRow*> rows;
  for (const AccuracyRow& row : results.accuracy) {
    if (row.question_type == kAllQuestionTypes &&
        !multi.count({row.model, row.dataset, row.split})) {
      continue;
    }
    rows.push_back(&row);
  }
  return rows;
}

std::string pair_scope(const PairwiseRow& row) {
  return row.dataset ? *row.dataset : std::string("all shared datasets");
}

std::string md_cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string md_row(const std::vector<std::string>& cells) {
  std::string out = "|";
  for (const std::string& c : cells) out += " " + md_cell(c) + " |";
  return out + "\n";
}

// Aligned columns; `right` marks the numeric ones.
std::string text_table(const std::vector<std::vector<std::string>>& rows,
                       const std::vector<bool>& right) {
  std::vector<std::size_t> width(right.size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], display_width(row[i]));
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) {
      const std::string pad(width[i] - display_width(row[i]), ' ');
      if (i > 0) line += "  ";
      line += right[i] ? pad + row[i] : row[i] + pad;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string gap_text(const GapRow& g) {
  if (!g.gap) return "no gap: " + g.note;
  return fmt::format("{} points {}", points(g.gap->gap), interval_points(g.gap->interval));
}

// Why a group has no accuracy: every question is open-ended, none is labeled, or the labeled
// ones were all truncated or failed.
std::string no_accuracy_note(const Group& group) {
  if (group.all_open_ended) return "not scored";
  if (group.scorable == 0) return "no labels";
  return fmt::format("none scored ({} labeled: truncated or failed)", group.scorable);
}

// Accuracy per model × dataset × split × question type, and "all" per split.
std::vector<AccuracyRow> accuracy_rows(const std::vector<ItemRecord>& items) {
  std::map<RowKey, Group> groups;
  for (const ItemRecord& r : items) {
    groups[{r.model, r.dataset, r.split, r.question_type}].add(r);
    groups[{r.model, r.dataset, r.split, kAllQuestionTypes}].add(r);
  }
  std::vector<AccuracyRow> rows;
  for (const auto& [key, group] : groups) {
    AccuracyRow row;
    row.model = key.model;
    row.dataset = key.dataset;
    row.split = key.split;
    row.question_type = key.type;
    row.accuracy = summarize_accuracy(group.correctness);
    row.labeled = group.labeled;
    row.scorable = group.scorable;
    row.truncated = group.truncated;
    row.errors = group.errors;
    if (!row.accuracy.accuracy) row.note = no_accuracy_note(group);
    rows.push_back(std::move(row));
  }
  return rows;
}

// Usage per model × dataset.
std::vector<UsageRow> usage_rows(const std::vector<ItemRecord>& items) {
  std::map<std::pair<std::string, std::string>, UsageRow> usage;
  for (const ItemRecord& r : items) {
    UsageRow& u = usage[{r.model, r.dataset}];
    u.model = r.model;
    u.dataset = r.dataset;
    ++u.items;
    u.prompt_tokens += r.prompt_tokens;
    for (int64_t t : r.output_tokens) u.output_tokens += t;
    u.reasoning_chars += r.reasoning_chars;
    u.reasoning_tokens += r.reasoning_tokens;
    u.prefill_ms += r.prefill_ms;
    u.decode_ms += r.decode_ms;
    if (r.truncated) ++u.truncated;
    if (!r.error.empty()) ++u.errors;
    if (r.correct == true) ++u.correct;
    if (r.energy_j) {
      ++u.energy_items;
      u.energy_j += *r.energy_j;
    }
    ++u.extraction_rules[r.extraction_rule];
    ++u.scoring[r.scoring];
  }
  std::vector<UsageRow> rows;
  for (auto& [key, u] : usage) rows.push_back(std::move(u));
  return rows;
}

// Correctness by item id, by dataset, by model.
using CorrectnessByItem = std::map<std::string, std::optional<bool>>;
using CorrectnessByDataset = std::map<std::string, CorrectnessByItem>;

// One paired comparison of models a and b over aligned correctness (`dataset` unset: pooled over
// the shared datasets). The bootstrap runs only when some pair is labeled on both sides.
PairwiseRow compare_pair(const std::string& a, const std::string& b,
                         const std::vector<std::optional<bool>>& ca,
                         const std::vector<std::optional<bool>>& cb,
                         std::optional<std::string> dataset, const BootstrapOptions& bootstrap) {
  PairwiseRow row;
  row.model_a = a;
  row.model_b = b;
  row.dataset = std::move(dataset);
  row.common_items = ca.size();
  if (auto m = mcnemar_exact(ca, cb)) row.mcnemar = *m;
  if (row.mcnemar.pairs > 0) {
    if (auto d = paired_bootstrap(ca, cb, bootstrap)) row.difference = *d;
  }
  return row;
}

// Comparisons of two models: one per dataset with items in common, then one pooled over them
// when there is more than one such dataset.
void compare_models(const std::string& a, const CorrectnessByDataset& by_dataset_a,
                    const std::string& b, const CorrectnessByDataset& by_dataset_b,
                    const BootstrapOptions& bootstrap, std::vector<PairwiseRow>& out) {
  std::vector<std::optional<bool>> pooled_a, pooled_b;
  int shared = 0;
  for (const auto& [dataset, items_a] : by_dataset_a) {
    auto it = by_dataset_b.find(dataset);
    if (it == by_dataset_b.end()) continue;
    std::vector<std::optional<bool>> ca, cb;
    for (const auto& [id, correct] : items_a) {
      auto jt = it->second.find(id);
      if (jt == it->second.end()) continue;
      ca.push_back(correct);
      cb.push_back(jt->second);
    }
    if (ca.empty()) continue;
    ++shared;
    pooled_a.insert(pooled_a.end(), ca.begin(), ca.end());
    pooled_b.insert(pooled_b.end(), cb.begin(), cb.end());
    out.push_back(compare_pair(a, b, ca, cb, dataset, bootstrap));
  }
  if (shared > 1) out.push_back(compare_pair(a, b, pooled_a, pooled_b, std::nullopt, bootstrap));
}

// Pairwise comparisons of every two models (the first record of a model, dataset, item id wins).
std::vector<PairwiseRow> pairwise_rows(const std::vector<ItemRecord>& items,
                                       const BootstrapOptions& bootstrap) {
  std::map<std::string, CorrectnessByDataset> by_model;
  for (const ItemRecord& r : items) by_model[r.model][r.dataset].emplace(r.item_id, r.correct);
  std::vector<PairwiseRow> rows;
  for (auto ia = by_model.begin(); ia != by_model.end(); ++ia) {
    for (auto ib = std::next(ia); ib != by_model.end(); ++ib) {
      compare_models(ia->first, ia->second, ib->first, ib->second, bootstrap, rows);
    }
  }
  return rows;
}

// Why a split has no accuracy: no labels at all, or labels but no scored item ("" if it has one).
std::string split_without_accuracy(const AccuracyRow& row, const std::string& split) {
  if (row.accuracy.has_labels()) return "";
  if (row.scorable == 0) return fmt::format("split {} has no labels", split);
  return fmt::format("split {} has no scored item ({} labeled: truncated or failed)", split,
                     row.scorable);
}

// Why there is no gap between two splits: the reasons of either or both, joined by "; ".
std::string no_gap_note(const AccuracyRow& reference, const AccuracyRow& other,
                        const ResultsOptions& options) {
  std::string note = split_without_accuracy(reference, options.reference_split);
  std::string b = split_without_accuracy(other, options.other_split);
  if (note.empty()) return b;
  if (!b.empty()) {
    note += "; ";
    note += b;
  }
  return note;
}

// Generalization gap per model × dataset: the "all" rows of the reference and other splits.
std::vector<GapRow> gap_rows(const std::vector<AccuracyRow>& accuracy,
                             const ResultsOptions& options) {
  std::map<std::pair<std::string, std::string>, std::pair<const AccuracyRow*, const AccuracyRow*>>
      splits;
  for (const AccuracyRow& row : accuracy) {
    if (row.question_type != kAllQuestionTypes) continue;
    auto& entry = splits[{row.model, row.dataset}];
    if (row.split == options.reference_split) entry.first = &row;
    if (row.split == options.other_split) entry.second = &row;
  }
  std::vector<GapRow> rows;
  for (const auto& [key, entry] : splits) {
    if (entry.first == nullptr || entry.second == nullptr) continue;
    GapRow g;
    g.model = key.first;
    g.dataset = key.second;
    g.reference_split = options.reference_split;
    g.other_split = options.other_split;
    g.reference = entry.first->accuracy;
    g.other = entry.second->accuracy;
    g.gap = generalization_gap(g.reference, g.other);
    if (!g.gap) g.note = no_gap_note(*entry.first, *entry.second, options);
    rows.push_back(std::move(g));
  }
  return rows;
}

}  // namespace

std::optional<double> AccuracyRow::strict_accuracy() const {
  if (scorable == 0) return std::nullopt;
  return static_cast<double>(accuracy.correct) / static_cast<double>(scorable);
}

double UsageRow::avg_prompt_tokens() const {
  return items == 0 ? 0.0 : static_cast<double>(prompt_tokens) / static_cast<double>(items);
}
double UsageRow::avg_output_tokens() const {
  return items == 0 ? 0.0 : static_cast<double>(output_tokens) / static_cast<double>(items);
}
double UsageRow::avg_reasoning_chars() const {
  return items == 0 ? 0.0 : static_cast<double>(reasoning_chars) / static_cast<double>(items);
}
double UsageRow::avg_reasoning_tokens() const {
  return items == 0 ? 0.0 : static_cast<double>(reasoning_tokens) / static_cast<double>(items);
}
std::optional<double> UsageRow::decode_tokens_per_s() const {
  if (decode_ms <= 0 || output_tokens <= 0) return std::nullopt;
  return static_cast<double>(output_tokens) / (decode_ms / 1000.0);
}

namespace {

// Joules of a group, and per unit of what it achieved, when every item has its energy.
std::optional<double> all_measured(std::size_t items, std::size_t energy_items, double joules) {
  if (items == 0 || energy_items != items) return std::nullopt;
  return joules;
}
std::optional<double> per(std::optional<double> joules, double divisor) {
  if (!joules || divisor <= 0) return std::nullopt;
  return *joules / divisor;
}

std::vector<EnergyRow> energy_rows(const std::vector<UsageRow>& usage) {
  std::map<std::string, EnergyRow> by_model;
  for (const UsageRow& u : usage) {
    EnergyRow& e = by_model[u.model];
    e.model = u.model;
    e.items += u.items;
    e.energy_items += u.energy_items;
    e.correct += u.correct;
    e.output_tokens += u.output_tokens;
    e.energy_j += u.energy_j;
  }
  std::vector<EnergyRow> rows;
  for (auto& [model, e] : by_model) rows.push_back(std::move(e));
  return rows;
}

}  // namespace

std::optional<double> UsageRow::total_energy_j() const {
  return all_measured(items, energy_items, energy_j);
}
std::optional<double> UsageRow::joules_per_correct() const {
  return per(total_energy_j(), static_cast<double>(correct));
}
std::optional<double> UsageRow::joules_per_output_token() const {
  return per(total_energy_j(), static_cast<double>(output_tokens));
}
std::optional<double> EnergyRow::total_energy_j() const {
  return all_measured(items, energy_items, energy_j);
}
std::optional<double> EnergyRow::joules_per_correct() const {
  return per(total_energy_j(), static_cast<double>(correct));
}
std::optional<double> EnergyRow::joules_per_output_token() const {
  return per(total_energy_j(), static_cast<double>(output_tokens));
}

RunResults compute_results(const std::vector<ItemRecord>& items, const ResultsOptions& options) {
  RunResults results;
  results.accuracy = accuracy_rows(items);
  results.usage = usage_rows(items);
  results.energy = energy_rows(results.usage);
  results.pairwise = pairwise_rows(items, options.bootstrap);
  results.gaps = gap_rows(results.accuracy, options);
  return results;
}

namespace {

Json usage_json(const std::vector<UsageRow>& rows) {
  Json usage = Json::array();
  for (const UsageRow& u : rows) {
    Json rules = Json::object();
    for (const auto& [rule, n] : u.extraction_rules) rules[utf8(rule)] = n;
    Json scoring = Json::object();
    for (const auto& [name, n] : u.scoring) scoring[utf8(name)] = n;
    usage.push_back({{"model", utf8(u.model)},
                     {"dataset", utf8(u.dataset)},
                     {"items", u.items},
                     {"prompt_tokens", u.prompt_tokens},
                     {"output_tokens", u.output_tokens},
                     {"reasoning_chars", u.reasoning_chars},
                     {"reasoning_tokens", u.reasoning_tokens},
                     {"avg_prompt_tokens", u.avg_prompt_tokens()},
                     {"avg_output_tokens", u.avg_output_tokens()},
                     {"avg_reasoning_chars", u.avg_reasoning_chars()},
                     {"avg_reasoning_tokens", u.avg_reasoning_tokens()},
                     {"prefill_ms", u.prefill_ms},
                     {"decode_ms", u.decode_ms},
                     {"decode_tokens_per_s", opt_json(u.decode_tokens_per_s())},
                     {"correct", u.correct},
                     {"energy_items", u.energy_items},
                     {"energy_j", opt_json(u.total_energy_j())},
                     {"joules_per_correct", opt_json(u.joules_per_correct())},
                     {"joules_per_output_token", opt_json(u.joules_per_output_token())},
                     {"truncated", u.truncated},
                     {"errors", u.errors},
                     {"extraction_rules", std::move(rules)},
                     {"scoring", std::move(scoring)}});
  }
  return usage;
}

Json energy_json(const std::vector<EnergyRow>& rows) {
  Json energy = Json::array();
  for (const EnergyRow& e : rows) {
    energy.push_back({{"model", utf8(e.model)},
                      {"items", e.items},
                      {"energy_items", e.energy_items},
                      {"correct", e.correct},
                      {"output_tokens", e.output_tokens},
                      {"energy_j", opt_json(e.total_energy_j())},
                      {"joules_per_correct", opt_json(e.joules_per_correct())},
                      {"joules_per_output_token", opt_json(e.joules_per_output_token())}});
  }
  return energy;
}

}  // namespace

Json results_json(const RunResults& results, const Json& extra_counts) {
  Json accuracy = Json::array();
  for (const AccuracyRow& r : results.accuracy) {
    const AccuracySummary& a = r.accuracy;
    accuracy.push_back({{"model", utf8(r.model)},
                        {"dataset", utf8(r.dataset)},
                        {"split", utf8(r.split)},
                        {"question_type", utf8(r.question_type)},
                        {"items", a.items},
                        {"labeled", r.labeled},
                        {"scorable", r.scorable},
                        {"scored", a.labeled},
                        {"correct", a.correct},
                        {"accuracy", opt_json(a.accuracy)},
                        {"ci_low", a.interval ? Json(a.interval->low) : Json()},
                        {"ci_high", a.interval ? Json(a.interval->high) : Json()},
                        {"strict_accuracy", opt_json(r.strict_accuracy())},
                        {"truncated", r.truncated},
                        {"errors", r.errors},
                        {"note", r.note.empty() ? Json() : Json(r.note)}});
  }
  Json pairwise = Json::array();
  for (const PairwiseRow& p : results.pairwise) {
    const McNemarResult& m = p.mcnemar;
    Json entry = {{"model_a", utf8(p.model_a)},
                  {"model_b", utf8(p.model_b)},
                  {"dataset", p.dataset ? Json(utf8(*p.dataset)) : Json()},
                  {"common_items", p.common_items},
                  {"pairs", m.pairs},
                  {"skipped", m.skipped},
                  {"both_correct", m.both_correct},
                  {"both_wrong", m.both_wrong},
                  {"only_a", m.only_a},
                  {"only_b", m.only_b},
                  {"mcnemar_p", m.pairs > 0 ? Json(m.p_value) : Json()}};
    if (p.difference) {
      entry["accuracy_a"] = p.difference->accuracy_a;
      entry["accuracy_b"] = p.difference->accuracy_b;
      entry["difference"] = p.difference->difference;
      entry["ci_low"] = p.difference->interval.low;
      entry["ci_high"] = p.difference->interval.high;
      entry["resamples"] = p.difference->resamples;
      entry["bootstrap_seed"] = p.difference->seed;
    } else {
      for (const char* k : {"accuracy_a", "accuracy_b", "difference", "ci_low", "ci_high",
                            "resamples", "bootstrap_seed"}) {
        entry[k] = nullptr;
      }
    }
    pairwise.push_back(std::move(entry));
  }
  Json gaps = Json::array();
  for (const GapRow& g : results.gaps) {
    gaps.push_back({{"model", utf8(g.model)},
                    {"dataset", utf8(g.dataset)},
                    {"reference_split", utf8(g.reference_split)},
                    {"other_split", utf8(g.other_split)},
                    {"reference_accuracy", opt_json(g.reference.accuracy)},
                    {"other_accuracy", opt_json(g.other.accuracy)},
                    {"reference_scored", g.reference.labeled},
                    {"other_scored", g.other.labeled},
                    {"gap", g.gap ? Json(g.gap->gap) : Json()},
                    {"ci_low", g.gap ? Json(g.gap->interval.low) : Json()},
                    {"ci_high", g.gap ? Json(g.gap->interval.high) : Json()},
                    {"note", g.note.empty() ? Json() : Json(g.note)}});
  }
  Json out = {{"format", "clinbench.results/1"},    {"accuracy", std::move(accuracy)},
              {"usage", usage_json(results.usage)}, {"energy", energy_json(results.energy)},
              {"pairwise", std::move(pairwise)},    {"generalization_gap", std::move(gaps)}};
  if (!extra_counts.is_null()) out["extra_counts"] = extra_counts;
  return out;
}

Json results_json(const std::vector<ItemRecord>& items, const Json& extra_counts) {
  return results_json(compute_results(items), extra_counts);
}

namespace {

// Each model's energy, or why there is none.
std::string energy_markdown(const std::vector<EnergyRow>& rows) {
  std::size_t measured = 0;
  for (const EnergyRow& e : rows) measured += e.energy_items;
  if (rows.empty()) return "";
  std::string out = "\n## Energy\n\n";
  if (measured == 0) {
    return out +
           "Not measured: no item has an energy (no meter could be read, or the models were "
           "served; manifest.json's `energy.unavailable` says why).\n";
  }
  out += md_row(
      {"model", "items measured", "energy (J)", "J per correct answer", "J per output token"});
  out += "|---|---:|---:|---:|---:|\n";
  auto num = [](std::optional<double> v, const char* f) {
    return v ? fmt::format(fmt::runtime(f), *v) : std::string("-");
  };
  for (const EnergyRow& e : rows) {
    out += md_row({e.model, fmt::format("{}/{}", e.energy_items, e.items),
                   num(e.total_energy_j(), "{:.1f}"), num(e.joules_per_correct(), "{:.2f}"),
                   num(e.joules_per_output_token(), "{:.4f}")});
  }
  return out;
}

}  // namespace

std::string summary_markdown(const RunResults& results) {
  std::string out = "## Accuracy\n\n";
  out += md_row({"model", "dataset", "split", "question type", "items", "labeled", "scored",
                 "correct", "accuracy", "95% CI"});
  out += "|---|---|---|---|---:|---:|---:|---:|---:|---|\n";
  for (const AccuracyRow* r : table_rows(results)) {
    const AccuracySummary& a = r->accuracy;
    out += md_row({r->model, r->dataset, split_label(r->split), r->question_type,
                   std::to_string(a.items), std::to_string(r->labeled), std::to_string(a.labeled),
                   std::to_string(a.correct), a.accuracy ? percent(*a.accuracy) : r->note,
                   a.interval ? interval_percent(*a.interval) : ""});
  }
  out += "\n## Usage\n\n";
  out +=
      md_row({"model", "dataset", "items", "avg prompt tokens", "avg output tokens",
              "avg reasoning chars", "decode tokens/s", "truncated", "errors", "extraction rules"});
  out += "|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const UsageRow& u : results.usage) {
    const auto tps = u.decode_tokens_per_s();
    out += md_row(
        {u.model, u.dataset, std::to_string(u.items), fmt::format("{:.1f}", u.avg_prompt_tokens()),
         fmt::format("{:.1f}", u.avg_output_tokens()),
         fmt::format("{:.0f}", u.avg_reasoning_chars()), tps ? fmt::format("{:.1f}", *tps) : "",
         std::to_string(u.truncated), std::to_string(u.errors), rules_text(u.extraction_rules)});
  }
  out += energy_markdown(results.energy);
  if (!results.pairwise.empty()) {
    out += "\n## Paired comparisons\n\n";
    out += md_row({"model A", "model B", "dataset", "pairs", "only A right", "only B right",
                   "McNemar p", "A - B (points)", "95% CI (paired bootstrap)"});
    out += "|---|---|---|---:|---:|---:|---:|---:|---|\n";
    for (const PairwiseRow& p : results.pairwise) {
      const McNemarResult& m = p.mcnemar;
      out += md_row({p.model_a, p.model_b, pair_scope(p), std::to_string(m.pairs),
                     std::to_string(m.only_a), std::to_string(m.only_b),
                     m.pairs > 0 ? p_value(m.p_value) : "no labels",
                     p.difference ? points(p.difference->difference) : "",
                     p.difference ? interval_points(p.difference->interval) : ""});
    }
  }
  if (!results.gaps.empty()) {
    out += "\n## Generalization gap\n\n";
    out += md_row({"model", "dataset", "splits", "reference", "other", "gap (points)", "95% CI"});
    out += "|---|---|---|---:|---:|---:|---|\n";
    for (const GapRow& g : results.gaps) {
      out += md_row({g.model, g.dataset, g.reference_split + " - " + g.other_split,
                     g.reference.accuracy ? percent(*g.reference.accuracy) : "no labels",
                     g.other.accuracy ? percent(*g.other.accuracy) : "no labels",
                     g.gap ? points(g.gap->gap) : "no gap: " + g.note,
                     g.gap ? interval_points(g.gap->interval) : ""});
    }
  }
  return out;
}

std::string summary_markdown(const std::vector<ItemRecord>& items) {
  return summary_markdown(compute_results(items));
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string summary_csv(const RunResults& results) {
  std::string out =
      "model,dataset,split,question_type,items,labeled,scorable,scored,correct,accuracy,ci_low,"
      "ci_high,strict_accuracy,truncated,errors,note\r\n";
  auto frac = [](const std::optional<double>& v) {
    return v ? fmt::format("{:.4f}", *v) : std::string();
  };
  for (const AccuracyRow& r : results.accuracy) {
    const AccuracySummary& a = r.accuracy;
    const std::vector<std::string> fields = {
        r.model,
        r.dataset,
        r.split,
        r.question_type,
        std::to_string(a.items),
        std::to_string(r.labeled),
        std::to_string(r.scorable),
        std::to_string(a.labeled),
        std::to_string(a.correct),
        frac(a.accuracy),
        frac(a.interval ? std::optional<double>(a.interval->low) : std::nullopt),
        frac(a.interval ? std::optional<double>(a.interval->high) : std::nullopt),
        frac(r.strict_accuracy()),
        std::to_string(r.truncated),
        std::to_string(r.errors),
        r.note};
    for (std::size_t i = 0; i < fields.size(); ++i) {
      out += (i == 0 ? "" : ",") + csv_field(fields[i]);
    }
    out += "\r\n";
  }
  return out;
}

std::string summary_csv(const std::vector<ItemRecord>& items) {
  return summary_csv(compute_results(items));
}

std::string summary_table(const RunResults& results) {
  std::vector<std::vector<std::string>> rows = {
      {"model", "dataset", "split", "type", "items", "accuracy [95% CI]", "correct/scored"}};
  for (const AccuracyRow* r : table_rows(results)) {
    const AccuracySummary& a = r->accuracy;
    rows.push_back(
        {r->model, r->dataset, split_label(r->split), r->question_type, std::to_string(a.items),
         a.accuracy ? percent(*a.accuracy) + " " + interval_percent(*a.interval) : r->note,
         a.accuracy ? fmt::format("{}/{}", a.correct, a.labeled) : ""});
  }
  std::string out = text_table(rows, {false, false, false, false, true, false, true});
  if (!results.usage.empty()) {
    std::vector<std::vector<std::string>> usage = {{"model", "dataset", "items", "prompt tok/item",
                                                    "output tok/item", "decode tok/s", "truncated",
                                                    "errors"}};
    for (const UsageRow& u : results.usage) {
      const auto tps = u.decode_tokens_per_s();
      usage.push_back({u.model, u.dataset, std::to_string(u.items),
                       fmt::format("{:.1f}", u.avg_prompt_tokens()),
                       fmt::format("{:.1f}", u.avg_output_tokens()),
                       tps ? fmt::format("{:.1f}", *tps) : "-", std::to_string(u.truncated),
                       std::to_string(u.errors)});
    }
    out += "\n" + text_table(usage, {false, false, true, true, true, true, true, true});
  }
  if (!results.gaps.empty()) out += "\n";
  for (const GapRow& g : results.gaps) {
    out += fmt::format("gap {} - {}, {} on {}: {}\n", g.reference_split, g.other_split, g.model,
                       g.dataset, gap_text(g));
  }
  if (!results.pairwise.empty()) out += "\n";
  for (const PairwiseRow& p : results.pairwise) {
    const McNemarResult& m = p.mcnemar;
    if (!p.difference) {
      out += fmt::format("{} vs {} on {}: {} common items, none labeled on both sides\n", p.model_a,
                         p.model_b, pair_scope(p), p.common_items);
      continue;
    }
    out += fmt::format(
        "{} vs {} on {}: {} pairs, only {} right {}, only {} "
        "right {}, McNemar p = {}, "
        "difference {} points {}\n",
        p.model_a, p.model_b, pair_scope(p), m.pairs, p.model_a, m.only_a, p.model_b, m.only_b,
        p_value(m.p_value), points(p.difference->difference),
        interval_points(p.difference->interval));
  }
  return out;
}

std::string summary_table(const std::vector<ItemRecord>& items) {
  return summary_table(compute_results(items));
}

}  // namespace clinbench
