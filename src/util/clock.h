// Wall-clock intervals for telemetry and benchmarks: a monotonic clock, in milliseconds.
#pragma once

#include <chrono>

namespace clinbench {

using Clock = std::chrono::steady_clock;

inline double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace clinbench
