#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "clinbench/load.h"
#include "clinbench/model_info.h"
#include "clinbench/units.h"
#include "model/attempt_runner.h"
#include "model/plan_child.h"
#include "run/eval_task.h"
#include "util/subprocess.h"

namespace clinbench {

namespace {

// AddressSanitizer reserves terabytes of shadow address space, so an address-space limit would
// stop every sanitized worker before it starts.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSpaceLimitUsable = false;
#else
constexpr bool kAddressSpaceLimitUsable = true;
#endif

std::string iso_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

uint64_t read_status_kb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t klen = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, klen, key) == 0) return std::strtoull(line.c_str() + klen, nullptr, 10);
  }
  return 0;
}

// In-process attempt: the peak RSS counter is reset first so the attempt's own peak is read.
Attempt run_in_process(const AttemptSpec& spec, const AfterLoad& after_load) {
  {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
  }
  const auto t0 = std::chrono::steady_clock::now();
  Attempt a = execute_attempt(spec, after_load);
  a.wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  a.peak_rss_bytes = read_status_kb("VmHWM:") * 1024;
  a.isolation = Isolation::kNone;
  malloc_trim(0);  // model and context are freed; give the heap back too
  return a;
}

Attempt run_in_worker(const AttemptSpec& spec, std::optional<uint64_t> as_limit,
                      std::optional<uint64_t> resident_limit,
                      const std::function<void(const nlohmann::json&)>& on_record) {
  Attempt a;
  a.strategy = spec.strategy;
  a.recipe = is_quantize(spec.strategy) ? spec.recipe : "";
  a.isolation = Isolation::kProcess;
  char tmpl[] = "/tmp/clinbench-worker-XXXXXX";
  const char* dir = ::mkdtemp(tmpl);
  const std::string log_path = dir ? std::string(dir) + "/worker.log" : "";
  SpawnOptions so;
  so.argv = {self_executable(), "__worker", to_json(spec).dump()};
  so.address_space_limit = as_limit;
  so.resident_limit = resident_limit;
  so.stderr_path = log_path;
  // glibc reserves 64 MiB of address space per thread arena (128 MiB while it makes one); with
  // RLIMIT_AS that reservation, not the model, would decide whether an attempt fits. One arena:
  // with two, whether a helper thread's first malloc made the second depended on timing, and
  // FallbackTest.AutoSkipsWhatDoesNotFitAndSucceedsQuantized failed about 1 run in 12 (0 in 48
  // with one).
  so.env = child_process_env();
  so.env.emplace_back("MALLOC_ARENA_MAX", "1");
  std::string attempt_line;
  std::string protocol_error;
  so.on_line = [&](std::string_view line) {
    if (line.rfind("attempt ", 0) == 0) {
      attempt_line = std::string(line.substr(8));
    } else if (line.rfind("record ", 0) == 0) {
      auto rec = nlohmann::json::parse(line.substr(7), nullptr, false);
      if (rec.is_discarded()) {
        protocol_error = "the worker sent a malformed record";
      } else if (on_record) {
        on_record(rec);
      }
    } else if (!line.empty()) {
      protocol_error = "the worker sent an unknown line";
    }
  };
  auto child = run_child(so);
  if (!child) {
    a.outcome = Outcome::kFailed;
    a.reason = "could not start the worker: " + child.error().message;
    return a;
  }
  a.log_tail = log_path.empty() ? "" : tail_file(log_path);
  if (!log_path.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  bool parsed = false;
  if (!attempt_line.empty()) {
    auto j = nlohmann::json::parse(attempt_line, nullptr, false);
    if (!j.is_discarded()) {
      // Reuse the log reader for one attempt.
      nlohmann::json wrap = {{"format", "clinbench.attempt_log/1"},
                             {"model_path", spec.model_path},
                             {"model_sha256", nullptr},
                             {"accelerator", nlohmann::json::object()},
                             {"attempts", nlohmann::json::array({j})}};
      auto log = attempt_log_from_json(wrap);
      if (log) {
        const std::string tail = a.log_tail;
        a = log->attempts.front();
        a.log_tail = tail;
        parsed = true;
      }
    }
  }
  a.isolation = Isolation::kProcess;
  a.exit_code = child->exit_code;
  a.signal = child->signal;
  a.peak_rss_bytes = child->peak_rss_bytes;
  a.wall_ms = child->wall_ms;
  if (child->over_resident_limit) {
    a.outcome = Outcome::kFailed;
    a.reason = fmt::format(
        "stopped: its resident memory (anonymous and shared) reached {}, over the host budget of "
        "{}",
        format_bytes(child->resident_bytes_at_kill), format_bytes(resident_limit.value_or(0)));
  } else if (child->signal) {
    a.outcome = Outcome::kCrashed;
    a.reason = fmt::format("worker killed by {}{}", signal_name(*child->signal),
                           *child->signal == SIGKILL ? " (out of memory?)" : "");
  } else if (!parsed) {
    a.outcome = Outcome::kFailed;
    a.reason =
        fmt::format("worker exited with code {} without a result", child->exit_code.value_or(-1));
  }
  if (!protocol_error.empty() && a.outcome == Outcome::kOk) {
    a.outcome = Outcome::kFailed;
    a.reason = protocol_error;
  }
  if (a.outcome == Outcome::kFailed && a.reason.empty()) a.reason = "failed without a reason";
  return a;
}

}  // namespace

uint64_t host_available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t value = 0;
  std::string unit;
  while (in >> key >> value) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return value * 1024;
  }
  return 0;
}

Result<AttemptLog> run_load_chain(const std::string& model_path, const LoadOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Strategy> strategies;
  if (o.strategy == "auto") {
    strategies = auto_chain();
  } else if (auto s = strategy_from_string(o.strategy); s && *s != Strategy::kRemote) {
    strategies = {*s};
  } else {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("unknown strategy '{}' (expected auto, native, quantize:q8, "
                                  "quantize:q4, offload or cpu)",
                                  o.strategy));
  }
  auto recipe = resolve_recipe(o.recipe);
  if (!recipe) return std::unexpected(recipe.error());

  auto info = read_model_info(model_path, {.hash = o.hash});
  if (!info) return std::unexpected(info.error());
  PlanOptions po;
  po.n_ctx = o.n_ctx;
  po.n_batch = o.n_batch;
  po.recipe = o.recipe;
  po.device_budget = o.device_budget;
  // With worker processes the plan is built in one too, so that this process never opens the
  // accelerator (model/plan_child.h).
  auto plan =
      o.isolation == Isolation::kProcess ? plan_model_in_child(*info, po) : plan_model(*info, po);
  if (!plan) return std::unexpected(plan.error());

  AttemptLog log;
  log.model_path = model_path;
  log.model_sha256 = info->sha256.value_or("");
  log.architecture = info->architecture;
  log.requested = o.strategy;
  log.n_ctx = plan->n_ctx;
  log.accelerator = plan->accelerator;
  log.plan_ms = plan->plan_ms;
  log.started_at = iso_now();
  const uint64_t host_avail = o.host_budget.value_or(host_available_memory());
  const uint64_t dev_avail = o.device_budget.value_or(plan->accelerator.free);

  bool records_seen = false;
  LoadOptions opts = o;
  if (o.on_record) {
    opts.on_record = [&](const nlohmann::json& r) {
      records_seen = true;
      o.on_record(r);
    };
  }
  for (Strategy s : strategies) {
    const StrategyPlan* sp = find_plan(*plan, s);
    Attempt a;
    a.strategy = s;
    a.recipe = is_quantize(s) ? o.recipe : "";
    a.isolation = o.isolation;
    a.projected_host = sp->host;
    a.projected_device = sp->device;
    a.available_host = host_avail;
    a.available_device = plan->accelerator.present ? dev_avail : 0;
    a.placement.n_gpu_layers = sp->n_gpu_layers;
    a.placement.n_layers = sp->n_layers;
    if (!sp->applicable) {
      a.outcome = Outcome::kSkipped;
      a.reason = sp->reason;
    } else if (sp->host.total() > host_avail && o.skip_over_budget) {
      a.outcome = Outcome::kSkipped;
      a.reason = fmt::format("projected host memory {} exceeds the available {}",
                             format_bytes(sp->host.total()), format_bytes(host_avail));
    } else if (plan->accelerator.present && sp->device.total() > dev_avail && o.skip_over_budget) {
      a.outcome = Outcome::kSkipped;
      a.reason = fmt::format("projected device memory {} exceeds the available {}",
                             format_bytes(sp->device.total()), format_bytes(dev_avail));
    } else {
      AttemptSpec spec;
      spec.model_path = model_path;
      spec.strategy = s;
      spec.recipe = o.recipe;
      spec.n_ctx = plan->n_ctx;
      spec.n_batch = o.n_batch;
      spec.n_threads = o.n_threads;
      spec.n_gpu_layers = sp->n_gpu_layers;
      if (plan->accelerator.present) spec.device_budget = o.device_budget;
      spec.warmup = o.warmup;
      spec.task = o.task;
      // The address-space limit makes an attempt that does not fit fail for real. GPU drivers
      // reserve far more address space than they use, so with an accelerator the supervisor
      // watches the worker's resident memory instead. AddressSanitizer's shadow memory rules
      // out the first and inflates the second: auto enforces neither there.
      std::optional<uint64_t> as_limit, resident_limit;
      if (o.host_budget) {
        HostLimit how = o.host_limit;
        if (how == HostLimit::kAuto && kAddressSpaceLimitUsable) {
          how = plan->accelerator.present ? HostLimit::kResident : HostLimit::kAddressSpace;
        }
        if (how == HostLimit::kAddressSpace) as_limit = *o.host_budget;
        if (how == HostLimit::kResident) resident_limit = *o.host_budget;
      }
      Attempt done;
      records_seen = false;
      if (o.isolation == Isolation::kProcess) {
        done = run_in_worker(spec, as_limit, resident_limit, opts.on_record);
        if (as_limit) done.host_limit = "address_space";
        if (resident_limit) done.host_limit = "resident";
      } else {
        auto task = make_task(o.task, [&](const nlohmann::json& r) {
          if (opts.on_record) opts.on_record(r);
        });
        if (!task) return std::unexpected(task.error());
        done = run_in_process(spec, *task);
      }
      done.projected_host = a.projected_host;
      done.projected_device = a.projected_device;
      done.available_host = a.available_host;
      done.available_device = a.available_device;
      if (done.placement.n_layers == 0) done.placement = a.placement;
      a = std::move(done);
    }
    log.attempts.push_back(std::move(a));
    if (log.attempts.back().outcome == Outcome::kOk) {
      log.succeeded = log.attempts.size() - 1;
      break;
    }
    if (records_seen && o.stop_after_records) break;
  }
  log.wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return log;
}

std::string format_attempt_log(const AttemptLog& log) {
  std::ostringstream out;
  out << fmt::format(
      "model {} ({}), context {}, accelerator: {}\n", log.model_path, log.architecture, log.n_ctx,
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
                       to_string(a.strategy), to_string(a.outcome),
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
    out << fmt::format("loaded with {} in {:.0f} ms\n",
                       to_string(log.attempts[*log.succeeded].strategy), log.wall_ms);
  } else {
    out << "no strategy succeeded\n";
  }
  return out.str();
}

}  // namespace clinbench
