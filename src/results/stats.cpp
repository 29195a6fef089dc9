#include "clinbench/stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <random>
#include <type_traits>
#include <vector>

namespace clinbench {

namespace {

// Uniform integer in [0, bound) from a 64-bit engine, without modulo bias (rejection of the
// short top range). std::uniform_int_distribution is implementation-defined, this is not.
std::uint64_t bounded(std::mt19937_64& engine, std::uint64_t bound) {
  const std::uint64_t limit =
      std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % bound;
  std::uint64_t x = engine();
  while (x >= limit) x = engine();
  return x % bound;
}

// Linear interpolation between order statistics (R's type 7). REQUIRES: sorted non-empty.
double quantile(const std::vector<double>& sorted, double q) {
  const double h = q * static_cast<double>(sorted.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

struct Pairs {
  std::vector<signed char> diff;  // per labeled pair: a - b in {-1, 0, 1}
  std::size_t skipped = 0;
  std::size_t a_correct = 0;
  std::size_t b_correct = 0;
};

Result<Pairs> pair_up(std::span<const std::optional<bool>> a,
                      std::span<const std::optional<bool>> b) {
  if (a.size() != b.size()) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("paired comparison needs the same items on both sides; got {} "
                                  "and {} results",
                                  a.size(), b.size()));
  }
  Pairs pairs;
  pairs.diff.reserve(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i] || !b[i]) {
      ++pairs.skipped;
      continue;
    }
    pairs.a_correct += *a[i];
    pairs.b_correct += *b[i];
    pairs.diff.push_back(static_cast<signed char>(int{*a[i]} - int{*b[i]}));
  }
  return pairs;
}

}  // namespace

Interval wilson_interval(std::size_t successes, std::size_t n, double z) {
  assert(successes <= n);
  if (n == 0) return {0.0, 1.0};
  const double nn = static_cast<double>(n);
  const double p = static_cast<double>(successes) / nn;
  const double z2 = z * z;
  const double denominator = 1.0 + z2 / nn;
  const double center = (p + z2 / (2.0 * nn)) / denominator;
  const double half = z * std::sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)) / denominator;
  // At p = 0 or 1 the bound is exactly 0 or 1; rounding must not push it past.
  return {successes == 0 ? 0.0 : std::max(0.0, center - half),
          successes == n ? 1.0 : std::min(1.0, center + half)};
}

double mcnemar_exact_p(std::size_t b, std::size_t c) {
  const std::size_t n = b + c;
  if (n == 0) return 1.0;
  const std::size_t k_max = std::min(b, c);
  // Sum of C(n, k) / 2^n for k <= k_max, in logs: n can be in the thousands.
  const double log_half_n = -static_cast<double>(n) * std::log(2.0);
  const double log_n_fact = std::lgamma(static_cast<double>(n) + 1.0);
  double tail = 0.0;
  for (std::size_t k = 0; k <= k_max; ++k) {
    const double log_term = log_n_fact - std::lgamma(static_cast<double>(k) + 1.0) -
                            std::lgamma(static_cast<double>(n - k) + 1.0) + log_half_n;
    tail += std::exp(log_term);
  }
  return std::min(1.0, 2.0 * tail);
}

Result<McNemarResult> mcnemar_exact(std::span<const std::optional<bool>> a,
                                    std::span<const std::optional<bool>> b) {
  if (a.size() != b.size()) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("McNemar's test needs the same items on both sides; got {} and "
                                  "{} results",
                                  a.size(), b.size()));
  }
  McNemarResult result;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i] || !b[i]) {
      ++result.skipped;
      continue;
    }
    ++result.pairs;
    if (*a[i] && *b[i])
      ++result.both_correct;
    else if (!*a[i] && !*b[i])
      ++result.both_wrong;
    else if (*a[i])
      ++result.only_a;
    else
      ++result.only_b;
  }
  result.p_value = mcnemar_exact_p(result.only_a, result.only_b);
  return result;
}

// The options every bootstrap takes: at least one resample, a level inside (0, 1).
Result<void> check_bootstrap(const BootstrapOptions& options) {
  if (options.resamples == 0) {
    return make_error(ErrorCode::kInvalidArgument, "bootstrap needs at least one resample");
  }
  if (!(options.level > 0.0 && options.level < 1.0)) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("bootstrap level {} is not in (0, 1)", options.level));
  }
  return {};
}

// The percentile interval of the mean of `diff` over options.resamples resamples of its
// entries with replacement (std::mt19937_64 seeded with options.seed).
template <typename T>
Interval bootstrap_mean_interval(const std::vector<T>& diff, const BootstrapOptions& options) {
  const std::size_t n = diff.size();
  std::mt19937_64 engine(options.seed);
  std::vector<double> means(options.resamples);
  for (double& m : means) {
    // Integer differences are summed exactly, as integers.
    std::conditional_t<std::is_integral_v<T>, long long, double> sum =
        0;  // NOLINT(google-runtime-int)
    for (std::size_t i = 0; i < n; ++i) sum += diff[bounded(engine, n)];
    m = static_cast<double>(sum) / static_cast<double>(n);
  }
  std::sort(means.begin(), means.end());
  const double alpha = 1.0 - options.level;
  return {quantile(means, alpha / 2.0), quantile(means, 1.0 - alpha / 2.0)};
}

Result<PairedDifference> paired_bootstrap(std::span<const std::optional<bool>> a,
                                          std::span<const std::optional<bool>> b,
                                          const BootstrapOptions& options) {
  if (auto ok = check_bootstrap(options); !ok) return std::unexpected(ok.error());
  Result<Pairs> pairs = pair_up(a, b);
  if (!pairs) return std::unexpected(pairs.error());
  const std::size_t n = pairs->diff.size();
  if (n == 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "bootstrap needs at least one item labeled on both sides");
  }
  PairedDifference out;
  out.pairs = n;
  out.skipped = pairs->skipped;
  out.accuracy_a = static_cast<double>(pairs->a_correct) / static_cast<double>(n);
  out.accuracy_b = static_cast<double>(pairs->b_correct) / static_cast<double>(n);
  out.difference = out.accuracy_a - out.accuracy_b;
  out.resamples = options.resamples;
  out.seed = options.seed;

  out.interval = bootstrap_mean_interval(pairs->diff, options);
  return out;
}

Result<PairedMeanDifference> paired_mean_bootstrap(std::span<const std::optional<double>> a,
                                                   std::span<const std::optional<double>> b,
                                                   const BootstrapOptions& options) {
  if (auto ok = check_bootstrap(options); !ok) return std::unexpected(ok.error());
  if (a.size() != b.size()) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("paired values differ in length: {} and {}", a.size(), b.size()));
  }
  PairedMeanDifference out;
  std::vector<double> diff;
  double sum_a = 0, sum_b = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i] || !b[i]) {
      ++out.skipped;
      continue;
    }
    if (!std::isfinite(*a[i]) || !std::isfinite(*b[i])) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("paired value {} is not finite", i));
    }
    sum_a += *a[i];
    sum_b += *b[i];
    diff.push_back(*a[i] - *b[i]);
  }
  const std::size_t n = diff.size();
  if (n == 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "bootstrap needs at least one item with a value on both sides");
  }
  out.pairs = n;
  out.mean_a = sum_a / static_cast<double>(n);
  out.mean_b = sum_b / static_cast<double>(n);
  out.difference = out.mean_a - out.mean_b;
  out.resamples = options.resamples;
  out.seed = options.seed;
  out.interval = bootstrap_mean_interval(diff, options);
  return out;
}

AccuracySummary summarize_accuracy(std::span<const std::optional<bool>> correctness) {
  AccuracySummary summary;
  summary.items = correctness.size();
  for (const std::optional<bool>& c : correctness) {
    if (!c) continue;
    ++summary.labeled;
    summary.correct += *c;
  }
  if (summary.labeled > 0) {
    summary.accuracy = static_cast<double>(summary.correct) / static_cast<double>(summary.labeled);
    summary.interval = wilson_interval(summary.correct, summary.labeled);
  }
  return summary;
}

std::string to_string(const AccuracySummary& summary) {
  if (!summary.accuracy) return fmt::format("no labels ({} items)", summary.items);
  std::string text = fmt::format("{:.1f}% [{:.1f}, {:.1f}] ({}/{})", 100.0 * *summary.accuracy,
                                 100.0 * summary.interval->low, 100.0 * summary.interval->high,
                                 summary.correct, summary.labeled);
  if (summary.unlabeled() > 0) text += fmt::format(" + {} unlabeled", summary.unlabeled());
  return text;
}

std::optional<GeneralizationGap> generalization_gap(const AccuracySummary& reference,
                                                    const AccuracySummary& other) {
  if (!reference.accuracy || !other.accuracy) return std::nullopt;
  // Newcombe (1998), method 10: combine the two Wilson intervals.
  const double p1 = *reference.accuracy;
  const double p2 = *other.accuracy;
  const Interval w1 = *reference.interval;
  const Interval w2 = *other.interval;
  GeneralizationGap gap;
  gap.gap = p1 - p2;
  gap.interval = {
      gap.gap - std::sqrt((p1 - w1.low) * (p1 - w1.low) + (w2.high - p2) * (w2.high - p2)),
      gap.gap + std::sqrt((w1.high - p1) * (w1.high - p1) + (p2 - w2.low) * (p2 - w2.low))};
  return gap;
}

}  // namespace clinbench
