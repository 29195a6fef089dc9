#include "worker/supervisor.h"

#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "clinbench/units.h"
#include "util/process_memory.h"
#include "util/subprocess.h"

namespace clinbench {

namespace {

// A private directory for one worker's log, removed with everything in it when done.
class TempDir {
 public:
  TempDir() {
    std::error_code ec;
    std::string tmpl = (std::filesystem::temp_directory_path(ec) / "clinbench-worker-XXXXXX");
    if (ec) tmpl = "/tmp/clinbench-worker-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // "" when no directory could be made.
  std::string file(const char* name) const { return path_.empty() ? "" : path_ + "/" + name; }

 private:
  std::string path_;
};

// What the supervisor saw of a worker besides its attempt record.
struct WorkerReport {
  std::optional<Attempt> attempt;  // its own record, when it sent one
  std::string protocol_error;      // the first line that broke the protocol
};

// Fills the attempt's outcome from how the worker ended, when its own record does not decide.
void judge_exit(Attempt& a, const ChildResult& child, const WorkerReport& report,
                const WorkerLimits& limits) {
  a.isolation = Isolation::kProcess;
  a.exit_code = child.exit_code;
  a.signal = child.signal;
  a.peak_rss_bytes = child.peak_rss_bytes;
  a.wall_ms = child.wall_ms;
  if (child.over_resident_limit) {
    a.outcome = Outcome::kFailed;
    a.reason = fmt::format(
        "stopped: its resident memory (anonymous and shared) reached {}, over the host budget of "
        "{}",
        format_bytes(child.resident_bytes_at_kill), format_bytes(limits.resident.value_or(0)));
  } else if (child.signal) {
    a.outcome = Outcome::kCrashed;
    a.reason = fmt::format("worker killed by {}{}", signal_name(*child.signal),
                           child.stopped              ? " (stopped by the supervisor)"
                           : *child.signal == SIGKILL ? " (out of memory?)"
                                                      : "");
  } else if (!report.attempt) {
    a.outcome = Outcome::kFailed;
    a.reason =
        fmt::format("worker exited with code {} without a result", child.exit_code.value_or(-1));
  }
  if (!report.protocol_error.empty() && a.outcome == Outcome::kOk) {
    a.outcome = Outcome::kFailed;
    a.reason = report.protocol_error;
  }
  if (a.outcome == Outcome::kFailed && a.reason.empty()) a.reason = "failed without a reason";
}

}  // namespace

Attempt run_in_worker(const WorkerSpec& spec, const WorkerLimits& limits, const RecordSink& sink) {
  Attempt a;
  a.strategy = spec.attempt.strategy;
  a.recipe = is_quantize(spec.attempt.strategy) ? spec.attempt.recipe : "";
  a.isolation = Isolation::kProcess;
  TempDir dir;
  const std::string log_path = dir.file("worker.log");
  SpawnOptions so;
  so.argv = {self_executable(), "__worker", encode_spec(spec)};
  so.address_space_limit = limits.address_space;
  so.resident_limit = limits.resident;
  so.stderr_path = log_path;
  // glibc reserves 64 MiB of address space per thread arena (128 MiB while it makes one); with
  // RLIMIT_AS that reservation, not the model, would decide whether an attempt fits. One arena:
  // with two, whether a helper thread's first malloc made the second depended on timing, and
  // FallbackTest.AutoSkipsWhatDoesNotFitAndSucceedsQuantized failed about 1 run in 12 (0 in 48
  // with one).
  so.env = child_process_env();
  so.env.emplace_back("MALLOC_ARENA_MAX", "1");
  WorkerReport report;
  so.on_line = [&](std::string_view line) {
    if (line.empty()) return true;
    auto message = decode_message(line);
    if (!message) {
      if (report.protocol_error.empty()) report.protocol_error = message.error().message;
      return true;
    }
    if (auto* m = std::get_if<AttemptMessage>(&*message)) {
      report.attempt = std::move(m->attempt);
      return true;
    }
    // A record the supervisor could not take stops the worker: the items after it would be
    // evaluated for nothing.
    return !sink || sink(std::get<RecordMessage>(*message).record).has_value();
  };
  auto child = run_child(so);
  if (!child) {
    a.outcome = Outcome::kFailed;
    a.reason = "could not start the worker: " + child.error().message;
    return a;
  }
  const std::string tail = log_path.empty() ? "" : tail_file(log_path);
  if (report.attempt) a = std::move(*report.attempt);
  a.log_tail = tail;
  judge_exit(a, *child, report, limits);
  if (limits.address_space) a.host_limit = "address_space";
  if (limits.resident) a.host_limit = "resident";
  return a;
}

Attempt run_in_process(const AttemptSpec& spec, const AfterLoad& after_load) {
  reset_peak_rss();
  const auto t0 = std::chrono::steady_clock::now();
  Attempt a = execute_attempt(spec, after_load);
  a.wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  a.peak_rss_bytes = peak_rss_bytes();
  a.isolation = Isolation::kNone;
  malloc_trim(0);  // model and context are freed; give the heap back too
  return a;
}

}  // namespace clinbench
