// The attempt log as a text table, for terminals.
#include <fmt/format.h>

#include <sstream>

#include "clinbench/attempt.h"
#include "clinbench/units.h"

namespace clinbench {

std::string format_attempt_log(const AttemptLog& log) {
  std::ostringstream out;
  out << fmt::format(
      "model {} ({}), context {}, accelerator: {}\n", log.model_path, log.architecture,
      fmt::format("{}{}",
                  log.n_seq > 1
                      ? fmt::format("{} x {} sequences ({})", log.n_ctx, log.n_seq, log.n_seq_bound)
                      : std::to_string(log.n_ctx),
                  log.n_ctx_items > 0
                      ? fmt::format(" (the items need {} cells each)", log.n_ctx_items)
                      : ""),
      log.accelerator.present
          ? fmt::format("{} {} ({} free)", log.accelerator.name, log.accelerator.description,
                        format_bytes(log.accelerator.free))
          : std::string("none"));
  out << fmt::format("{:<3} {:<12} {:<8} {:>11} {:>11} {:>11} {:>9} {:>9}  {}\n", "#", "strategy",
                     "outcome", "proj.host", "proj.device", "peak RSS", "init ms", "wall ms",
                     "reason");
  for (size_t i = 0; i < log.attempts.size(); ++i) {
    const Attempt& a = log.attempts[i];
    out << fmt::format("{:<3} {:<12} {:<8} {:>11} {:>11} {:>11} {:>9} {:>9.0f}  {}\n", i + 1,
                       strategy_name(a), to_string(a.outcome),
                       format_bytes(a.projected_host.total()),
                       format_bytes(a.projected_device.total()),
                       a.peak_rss_bytes ? format_bytes(*a.peak_rss_bytes) : "-",
                       a.init_ms ? fmt::format("{:.0f}", *a.init_ms) : "-", a.wall_ms,
                       a.outcome == Outcome::kOk ? "" : a.reason);
    if (a.device_withheld_bytes) {
      out << fmt::format("      device budget: {} held back, peak device use {}\n",
                         format_bytes(*a.device_withheld_bytes),
                         a.peak_device_bytes ? format_bytes(*a.peak_device_bytes) : "-");
    }
    if (!a.kv.layout.empty() && a.kv.chosen_by != "one sequence") {
      out << fmt::format(
          "      KV {} ({}{}{}{})\n", a.kv.layout, a.kv.chosen_by,
          a.kv.cached ? fmt::format(" {} (cached)", a.kv.measured_at) : std::string(),
          a.kv.split_tok_s
              ? fmt::format(
                    ": split {:.1f} tok/s, unified {}, {} "
                    "steps at depth {}",
                    *a.kv.split_tok_s,
                    a.kv.unified_tok_s
                        ? fmt::format("{:.1f} tok/s{}", *a.kv.unified_tok_s,
                                      a.kv.unified_steps > 0 && a.kv.unified_steps < a.kv.steps
                                          ? fmt::format(" (slower: stopped after {} "
                                                        "steps)",
                                                        a.kv.unified_steps)
                                          : std::string())
                        : std::string("not measured"),
                    a.kv.steps, a.kv.depth)
              : std::string(),
          a.kv.note.empty() ? "" : "; " + a.kv.note);
    }
    for (const auto& w : a.warmup.warnings) out << "      warning: " << w << "\n";
    for (const auto& f : a.placement.fallbacks) {
      out << fmt::format("      fallback: {} {} -> {} ({})\n", f.name, f.wanted_type, f.type,
                         f.fallback_reason);
    }
    if (a.outcome == Outcome::kCrashed || a.outcome == Outcome::kFailed) {
      if (!a.log_tail.empty()) {
        std::istringstream lines(a.log_tail);
        std::string line;
        while (std::getline(lines, line)) out << "      | " << line << "\n";
      }
    }
  }
  if (log.succeeded) {
    out << fmt::format("loaded with {} in {:.0f} ms\n", strategy_name(log.attempts[*log.succeeded]),
                       log.wall_ms);
  } else {
    out << "no strategy succeeded\n";
  }
  return out.str();
}

}  // namespace clinbench
