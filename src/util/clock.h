// Wall-clock intervals for telemetry and benchmarks: a monotonic clock, in milliseconds; and the
// UTC time of day as logs record it.
#pragma once

#include <array>
#include <chrono>
#include <ctime>
#include <string>

namespace clinbench {

using Clock = std::chrono::steady_clock;

inline double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Now, UTC, to the second: "2026-12-06T19:00:00Z" (ISO 8601).
inline std::string utc_now_iso() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf.data();
}

}  // namespace clinbench
