// Results of a run, computed from its stored items (ItemRecord, include/clinbench/store.h):
// accuracy with Wilson intervals, token usage, paired comparisons between models and the
// generalization gap, as JSON (results.json) and as summary tables (Markdown, CSV, terminal).
// docs/telemetry.md describes every key.
//
// Honesty rules (DESIGN.md, "Reports and provenance"): an item counts towards accuracy only when
// its `correct` is set (it is *scored*); a group without any scored item has no accuracy ("no
// labels", never 0%), and a generalization gap is computed only when both the 'val' and the
// 'test' split of a model × dataset have scored items. Everything here is pure and deterministic
// (the bootstrap is seeded); nothing throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "clinbench/record.h"
#include "clinbench/stats.h"

namespace clinbench {

// The question_type of the row that pools every question type of a split.
inline constexpr const char* kAllQuestionTypes = "all";

// One model × dataset × split × question_type (question_type "all": every type of the split).
struct AccuracyRow {
  std::string model;
  std::string dataset;
  std::string split;          // "" when unknown
  std::string question_type;  // "multi_choice", ..., or kAllQuestionTypes
  // accuracy.items: every record; accuracy.labeled: records with `correct` set (the scored ones;
  // results_json calls them "scored"); accuracy.correct: correct == true; the accuracy and its
  // Wilson 95% interval: present only when some record is scored.
  AccuracySummary accuracy;
  // Records with a correct_answer, open_ended ones included (as ItemCounts::labeled).
  std::size_t labeled = 0;
  // Records with a correct_answer whose type is scored (not open_ended). The engine leaves
  // `correct` unset for such an item when it failed (error) or was cut by the token budget
  // before it answered, so scorable - accuracy.labeled is how many labeled items the accuracy
  // leaves out.
  std::size_t scorable = 0;
  std::size_t truncated = 0;
  std::size_t errors = 0;
  // "" when there is an accuracy; else why not: "not scored" when every record is open_ended
  // (never scored, even with an answer in the data), "no labels" when no record of a scored type
  // has a correct_answer, else "none scored (N labeled: truncated or failed)".
  std::string note;

  // correct / scorable: the conservative accuracy that counts every unscored labeled item as
  // wrong; nullopt when scorable is 0.
  std::optional<double> strict_accuracy() const;
};

// One model × dataset: what the evaluation cost.
struct UsageRow {
  std::string model;
  std::string dataset;
  std::size_t items = 0;
  int64_t prompt_tokens = 0;     // sum over items (first-turn prompts)
  int64_t output_tokens = 0;     // sum over items and turns
  int64_t reasoning_chars = 0;   // sum over items
  int64_t reasoning_tokens = 0;  // sum over items
  double prefill_ms = 0;         // sum over items
  double decode_ms = 0;          // sum over items
  std::size_t truncated = 0;
  std::size_t errors = 0;
  std::map<std::string, std::size_t> extraction_rules;  // rule -> items; "" is "no rule"
  std::map<std::string, std::size_t> scoring;           // "generate"/"loglik" -> items

  // Per-item averages (0 without items).
  double avg_prompt_tokens() const;
  double avg_output_tokens() const;
  double avg_reasoning_chars() const;
  double avg_reasoning_tokens() const;
  // output_tokens / decode time; nullopt when nothing was decoded.
  std::optional<double> decode_tokens_per_s() const;

  // Energy (docs/energy.md): the items' energy_j summed over those that have one.
  std::size_t correct = 0;       // items with correct == true
  std::size_t energy_items = 0;  // items with an energy_j
  double energy_j = 0;
  // The group's joules, per correct answer and per output token: only when every item has its
  // energy (a sum missing some would flatter the model) and the divisor is not 0.
  std::optional<double> total_energy_j() const;
  std::optional<double> joules_per_correct() const;
  std::optional<double> joules_per_output_token() const;
};

// One model, every dataset: the model's energy totals (UsageRow's, summed).
struct EnergyRow {
  std::string model;
  std::size_t items = 0;
  std::size_t energy_items = 0;
  std::size_t correct = 0;
  int64_t output_tokens = 0;
  double energy_j = 0;
  std::optional<double> total_energy_j() const;
  std::optional<double> joules_per_correct() const;
  std::optional<double> joules_per_output_token() const;
};

// Two models on the same (dataset, item_id) keys. model_a < model_b by name.
struct PairwiseRow {
  std::string model_a;
  std::string model_b;
  // The dataset compared, or nullopt for the pooled comparison over every dataset the two models
  // share (present only when they share more than one).
  std::optional<std::string> dataset;
  std::size_t common_items = 0;  // keys both models recorded
  McNemarResult mcnemar;         // pairs: keys scored on both sides
  // Paired bootstrap of accuracy_a - accuracy_b; nullopt when no key is scored on both sides.
  std::optional<PairedDifference> difference;
};

// The reference - other gap (val - test by default) of one model × dataset, present when both
// splits were evaluated.
struct GapRow {
  std::string model;
  std::string dataset;
  std::string reference_split;  // "val"
  std::string other_split;      // "test"
  AccuracySummary reference;    // the "all" row of each split
  AccuracySummary other;
  // nullopt when either split has no scored item; `note` then says which and why.
  std::optional<GeneralizationGap> gap;
  std::string note;
};

struct ResultsOptions {
  BootstrapOptions bootstrap;  // for every pairwise difference
  std::string reference_split = "val";
  std::string other_split = "test";
};

struct RunResults {
  // Ordered by model, dataset, split (name order), question_type (multi_choice,
  // open_ended_multi_choice, open_ended, other names, then "all").
  std::vector<AccuracyRow> accuracy;
  std::vector<UsageRow> usage;        // ordered by model, dataset
  std::vector<EnergyRow> energy;      // ordered by model
  std::vector<PairwiseRow> pairwise;  // ordered by model_a, model_b, dataset (pooled last)
  std::vector<GapRow> gaps;           // ordered by model, dataset
};

// Groups and summarizes the records. Records are identified by (model, dataset, item_id); if a
// key appears twice (not possible from one RunStore) both count in the accuracy rows and the
// first is used for pairing.
RunResults compute_results(const std::vector<ItemRecord>& items,
                           const ResultsOptions& options = {});

// {"format": "clinbench.results/1", "accuracy": [...], "usage": [...], "pairwise": [...],
//  "generalization_gap": [...], "extra_counts": extra_counts} (keys in docs/telemetry.md).
// extra_counts is passed through unchanged (e.g. skipped dataset lines per dataset); it is
// omitted when null. Every string from the records is valid UTF-8 in the result (invalid bytes
// become U+FFFD), so dump() does not throw on them.
nlohmann::json results_json(const RunResults& results,
                            const nlohmann::json& extra_counts = nlohmann::json());
nlohmann::json results_json(const std::vector<ItemRecord>& items,
                            const nlohmann::json& extra_counts = nlohmann::json());

// Markdown: an accuracy table, a usage table, and paired-comparison and gap tables when there
// are any. The "all" rows appear only for splits with more than one question type.
std::string summary_markdown(const RunResults& results);
std::string summary_markdown(const std::vector<ItemRecord>& items);

// CSV (RFC 4180: CRLF line ends; a field is quoted when it holds a comma, quote, CR or LF, with
// quotes doubled), one row per AccuracyRow ("all" rows included), header:
// model,dataset,split,question_type,items,labeled,scorable,scored,correct,accuracy,ci_low,ci_high,
// strict_accuracy,truncated,errors,note. Accuracies and the interval are fractions with 4
// decimals, empty when there is none.
std::string summary_csv(const RunResults& results);
std::string summary_csv(const std::vector<ItemRecord>& items);

// A plain-text table for the terminal (aligned columns, no colour), a usage table, then one line
// per gap and per paired comparison.
std::string summary_table(const RunResults& results);
std::string summary_table(const std::vector<ItemRecord>& items);

// One CSV field, quoted when RFC 4180 requires it.
std::string csv_field(const std::string& text);

}  // namespace clinbench
