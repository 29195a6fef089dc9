#include "clinbench/units.h"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

namespace clinbench {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

Result<uint64_t> parse_size(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("invalid size '{}': {} (expected a number with an optional "
                                  "unit B, K, KB, KiB, M, MB, MiB, G, GB, GiB, T, TB or TiB)",
                                  text, why));
  };
  std::string_view s = text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  if (s.empty()) return bad("empty");
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return bad("no number");
  double value = 0;
  auto num = s.substr(0, i);
  auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), value);
  if (ec != std::errc() || ptr != num.data() + num.size()) return bad("malformed number");
  std::string unit = lower(s.substr(i));
  while (!unit.empty() && unit.front() == ' ') unit.erase(unit.begin());
  double mult = 0;
  static const std::array<std::pair<const char*, double>, 17> kUnits = {{
      {"", 1.0},
      {"b", 1.0},
      {"k", 1024.0},
      {"kb", 1024.0},
      {"kib", 1024.0},
      {"m", 1024.0 * 1024},
      {"mb", 1024.0 * 1024},
      {"mib", 1024.0 * 1024},
      {"g", 1024.0 * 1024 * 1024},
      {"gb", 1024.0 * 1024 * 1024},
      {"gib", 1024.0 * 1024 * 1024},
      {"t", 1024.0 * 1024 * 1024 * 1024},
      {"tb", 1024.0 * 1024 * 1024 * 1024},
      {"tib", 1024.0 * 1024 * 1024 * 1024},
  }};
  bool found = false;
  for (const auto& [name, m] : kUnits) {
    if (name != nullptr && unit == name) {
      mult = m;
      found = true;
      break;
    }
  }
  if (!found) return bad(fmt::format("unknown unit '{}'", s.substr(i)));
  double bytes = value * mult;
  if (!std::isfinite(bytes) || bytes >= 1.8e19) return bad("too large");
  if (mult == 1.0 && value != std::floor(value)) return bad("fractional bytes");
  return static_cast<uint64_t>(std::llround(bytes));
}

std::string format_bytes(uint64_t bytes) {
  static const char* kNames[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  if (u == 0) return fmt::format("{} B", bytes);
  return fmt::format("{:.2f} {}", v, kNames[u]);
}

}  // namespace clinbench
