#include "fidelity/divergence.h"

#include <algorithm>
#include <cmath>

namespace clinbench {

std::vector<double> normalize_log(const std::vector<double>& scores) {
  double mx = -INFINITY;
  for (double x : scores) mx = std::max(mx, x);
  double sum = 0;
  for (double x : scores) sum += std::exp(x - mx);
  const double lse = mx + std::log(sum);
  std::vector<double> out;
  out.reserve(scores.size());
  for (double x : scores) out.push_back(x - lse);
  return out;
}

namespace {

template <typename T>
double kl(const T* log_p, const T* log_q, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const double lp = static_cast<double>(log_p[i]);
    const double p = std::exp(lp);
    if (p > 0) sum += p * (lp - static_cast<double>(log_q[i]));
  }
  return std::max(0.0, sum);  // rounding can leave a tiny negative for equal distributions
}

template <typename T>
size_t arg_max(const T* v, size_t n) {
  return static_cast<size_t>(std::max_element(v, v + n) - v);
}

}  // namespace

double kl_divergence(const double* log_p, const double* log_q, size_t n) {
  return kl(log_p, log_q, n);
}
double kl_divergence(const float* log_p, const float* log_q, size_t n) {
  return kl(log_p, log_q, n);
}
size_t argmax(const double* v, size_t n) { return arg_max(v, n); }
size_t argmax(const float* v, size_t n) { return arg_max(v, n); }

double nearest_rank(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

}  // namespace clinbench
