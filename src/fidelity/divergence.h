// The arithmetic of fidelity: distributions from log-probabilities, KL divergence, percentiles.
// Pure functions over plain arrays, so they are tested without a model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace clinbench {

// Log-scores renormalized into a log-distribution: x - log(sum(exp(x))).
std::vector<double> normalize_log(const std::vector<double>& scores);

// KL(p || q) in nats from two log-distributions of n entries: sum p (log p - log q).
double kl_divergence(const double* log_p, const double* log_q, size_t n);
double kl_divergence(const float* log_p, const float* log_q, size_t n);

// Index of the largest entry (the first of equal ones). REQUIRES: n > 0.
size_t argmax(const double* v, size_t n);
size_t argmax(const float* v, size_t n);

// Nearest-rank percentile (0 < q <= 1) of the values: the smallest value with at least q of them
// at or below it. 0 for no values.
double nearest_rank(std::vector<double> values, double q);

}  // namespace clinbench
