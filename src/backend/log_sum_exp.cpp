#include "backend/log_sum_exp.h"

#include <bit>
#include <cmath>
#include <cstdint>

namespace clinbench {

namespace {

// e^x for x in [-87, 0], Cephes' single-precision polynomial (relative error ~2e-7), written so
// the compiler vectorises it: no branches, no libm call.
inline float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float fx = x * 1.44269504088896341f;
  const float k = (fx + 12582912.0f) - 12582912.0f;  // round to nearest (1.5 * 2^23)
  const float r = x - k * 0.693359375f + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const auto bits = static_cast<uint32_t>(static_cast<int32_t>(k) + 127) << 23;
  return p * std::bit_cast<float>(bits);
}

}  // namespace

double log_sum_exp(const float* logits, int n) {
  float mx = logits[0];
#pragma omp parallel for simd reduction(max : mx) if (n > 16384)
  for (int i = 0; i < n; ++i) mx = logits[i] > mx ? logits[i] : mx;
  double sum = 0;
#pragma omp parallel if (n > 16384)
  {
    // Float partial sums over blocks of 1024 terms (each under 1024 in value), added in double.
    double local = 0;
#pragma omp for schedule(static)
    for (int b = 0; b < n; b += 1024) {
      const int e = b + 1024 < n ? b + 1024 : n;
      float part = 0;
#pragma omp simd reduction(+ : part)
      for (int i = b; i < e; ++i) part += exp_nonpositive(logits[i] - mx);
      local += static_cast<double>(part);
    }
#pragma omp atomic
    sum += local;
  }
  return static_cast<double>(mx) + std::log(sum);
}

}  // namespace clinbench
