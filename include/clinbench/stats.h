// Statistics for accuracy results: Wilson intervals, paired comparisons of two models on the
// same items (McNemar's exact test, paired bootstrap), and the honest handling of unlabeled
// splits: no accuracy and no generalization gap is ever computed from items without labels.
//
// Correctness is std::optional<bool> throughout: nullopt is an item without a label (or an
// open_ended item, never scored), which is neither right nor wrong. All functions are pure and
// deterministic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "clinbench/error.h"

namespace clinbench {

// z for a two-sided 95% interval.
inline constexpr double kZ95 = 1.959963984540054;

struct Interval {
  double low = 0.0;
  double high = 0.0;
};

// Wilson score interval of the proportion successes / n. With n == 0 nothing is known: [0, 1].
// REQUIRES: successes <= n.
Interval wilson_interval(std::size_t successes, std::size_t n, double z = kZ95);

// Two-sided exact McNemar p-value from the discordant counts: b items only the first model got
// right, c items only the second did. Under the null each discordant item is a fair coin:
// p = min(1, 2 * P(Binomial(b + c, 1/2) <= min(b, c))). b = c = 0 gives 1.
double mcnemar_exact_p(std::size_t b, std::size_t c);

struct McNemarResult {
  std::size_t pairs = 0;    // items where both sides are labeled
  std::size_t skipped = 0;  // items with nullopt on either side
  std::size_t both_correct = 0;
  std::size_t both_wrong = 0;
  std::size_t only_a = 0;  // b: a right, b wrong
  std::size_t only_b = 0;  // c: a wrong, b right
  double p_value = 1.0;
};

// McNemar's exact test for two models on the same items, item i of `a` paired with item i of
// `b`. Error (kInvalidArgument) when the lengths differ.
Result<McNemarResult> mcnemar_exact(std::span<const std::optional<bool>> a,
                                    std::span<const std::optional<bool>> b);

struct BootstrapOptions {
  std::size_t resamples = 10000;
  std::uint64_t seed = 20250917;  // fixed: the same inputs give the same interval everywhere
  double level = 0.95;            // two-sided percentile interval
};

struct PairedDifference {
  std::size_t pairs = 0;    // items where both sides are labeled
  std::size_t skipped = 0;  // items with nullopt on either side
  double accuracy_a = 0.0;
  double accuracy_b = 0.0;
  double difference = 0.0;  // accuracy_a - accuracy_b
  Interval interval;        // percentile bootstrap interval of the difference
  std::size_t resamples = 0;
  std::uint64_t seed = 0;
};

// Paired bootstrap of the accuracy difference a - b: resamples items with replacement (the
// same items for both models), std::mt19937_64 seeded with options.seed and an unbiased
// bounded draw of its own, so results do not depend on the standard library. Errors
// (kInvalidArgument): lengths differ, no labeled pair, resamples == 0, level not in (0, 1).
Result<PairedDifference> paired_bootstrap(std::span<const std::optional<bool>> a,
                                          std::span<const std::optional<bool>> b,
                                          const BootstrapOptions& options = {});

// A measured quantity (an item's energy) compared on the same items.
struct PairedMeanDifference {
  std::size_t pairs = 0;    // items with a value on both sides
  std::size_t skipped = 0;  // items with nullopt on either side
  double mean_a = 0.0;
  double mean_b = 0.0;
  double difference = 0.0;  // mean_a - mean_b
  Interval interval;        // percentile bootstrap interval of the difference
  std::size_t resamples = 0;
  std::uint64_t seed = 0;
};

// Paired bootstrap of the mean difference a - b of a per-item value, as paired_bootstrap does
// it for correctness (same resampling, same seed). Errors (kInvalidArgument): lengths differ, no
// pair, a value that is not finite, resamples == 0, level not in (0, 1).
Result<PairedMeanDifference> paired_mean_bootstrap(std::span<const std::optional<double>> a,
                                                   std::span<const std::optional<double>> b,
                                                   const BootstrapOptions& options = {});

struct AccuracySummary {
  std::size_t items = 0;    // every item, labeled or not
  std::size_t labeled = 0;  // items with a correctness value
  std::size_t correct = 0;
  // nullopt when no item is labeled: "no labels", never 0%.
  std::optional<double> accuracy;
  std::optional<Interval> interval;  // Wilson 95%, present with accuracy
  bool has_labels() const { return labeled > 0; }
  std::size_t unlabeled() const { return items - labeled; }
};

AccuracySummary summarize_accuracy(std::span<const std::optional<bool>> correctness);

// "80.0% [49.0, 94.3] (8/10)", with " + 2 unlabeled" when some are; "no labels (12 items)".
std::string to_string(const AccuracySummary& summary);

struct GeneralizationGap {
  double gap = 0.0;   // reference accuracy - other accuracy (e.g. val - test)
  Interval interval;  // Newcombe's hybrid score interval (independent samples), 95%
};

// The gap between two splits, or nullopt when either split has no labels: a split without
// labels has no accuracy, so there is no gap to report (the seed's -29% "gap" was one).
std::optional<GeneralizationGap> generalization_gap(const AccuracySummary& reference,
                                                    const AccuracySummary& other);

}  // namespace clinbench
