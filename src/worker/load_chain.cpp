// The loading chain (load.h): plan in a child process, then try the strategies in order, each
// attempt in its own worker (supervisor.h), until one loads.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <variant>

#include "clinbench/load.h"
#include "clinbench/model_info.h"
#include "clinbench/units.h"
#include "model/plan_child.h"
#include "util/clock.h"
#include "util/process_memory.h"
#include "worker/supervisor.h"

namespace clinbench {

namespace {

// AddressSanitizer reserves terabytes of shadow address space, so an address-space limit would
// stop every sanitized worker before it starts.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSpaceLimitUsable = false;
#else
constexpr bool kAddressSpaceLimitUsable = true;
#endif

Result<std::vector<Strategy>> requested_strategies(const std::string& requested) {
  if (requested == "auto") return auto_chain();
  if (auto s = strategy_from_string(requested)) return std::vector<Strategy>{*s};
  std::string names = "auto";
  const auto& chain = auto_chain();
  for (size_t i = 0; i < chain.size(); ++i) {
    names += (i + 1 == chain.size() ? " or " : ", ") + std::string(to_string(chain[i]));
  }
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("unknown strategy '{}' (expected {})", requested, names));
}

// The address-space limit makes an attempt that does not fit fail for real. GPU drivers reserve
// far more address space than they use, so with an accelerator the supervisor watches the
// worker's resident memory instead. AddressSanitizer's shadow memory rules out the first and
// inflates the second: auto enforces neither there.
WorkerLimits worker_limits(const LoadOptions& o, bool accelerator) {
  WorkerLimits limits;
  if (!o.host_budget) return limits;
  HostLimit how = o.host_limit;
  if (how == HostLimit::kAuto && kAddressSpaceLimitUsable) {
    how = accelerator ? HostLimit::kResident : HostLimit::kAddressSpace;
  }
  if (how == HostLimit::kAddressSpace) limits.address_space = *o.host_budget;
  if (how == HostLimit::kResident) limits.resident = *o.host_budget;
  return limits;
}

// Why the plan rules the strategy out, with the numbers; nullopt when it may be tried.
std::optional<std::string> skip_reason(const StrategyPlan& sp, const LoadOptions& o,
                                       const Plan& plan, uint64_t host_avail, uint64_t dev_avail) {
  if (!sp.applicable) return sp.reason;
  if (!o.skip_over_budget) return std::nullopt;
  if (sp.host.total() > host_avail) {
    return fmt::format("projected host memory {} exceeds the available {}",
                       format_bytes(sp.host.total()), format_bytes(host_avail));
  }
  if (plan.accelerator.present && sp.device.total() > dev_avail) {
    return fmt::format("projected device memory {} exceeds the available {}",
                       format_bytes(sp.device.total()), format_bytes(dev_avail));
  }
  return std::nullopt;
}

// How many sequences the context gets, and what bounded the number.
struct Width {
  uint32_t n = 1;
  std::string bound;
};

}  // namespace

uint64_t width_headroom(uint64_t budget) { return std::max<uint64_t>(budget / 20, 8ull << 20); }

namespace {

// Plans the model at n_seq sequences (in a child process with worker isolation).
Result<Plan> plan_at(const ModelInfo& info, PlanOptions po, uint32_t n_seq, Isolation isolation) {
  po.n_seq = n_seq;
  return isolation == Isolation::kProcess ? plan_model_in_child(info, po) : plan_model(info, po);
}

// The first strategy of the chain the plan lets through, nullptr when none.
const StrategyPlan* first_fitting(const Plan& plan, const std::vector<Strategy>& chain,
                                  const LoadOptions& o, uint64_t host_avail, uint64_t dev_avail) {
  for (Strategy s : chain) {
    const StrategyPlan* sp = find_plan(plan, s);
    if (sp != nullptr && !skip_reason(*sp, o, plan, host_avail, dev_avail)) return sp;
  }
  return nullptr;
}

// Chooses the context's sequences and re-plans at that width (`plan` is the plan at one
// sequence, and becomes the plan at the width). Each sequence adds its KV to the strategy the
// chain would load with one: the widest that still fits the host and device budgets, up to
// o.max_seq (the items) and llama.cpp's limit, or o.n_seq when fixed, which is an error naming
// the largest that fits when it does not fit.
Result<Width> plan_width(const ModelInfo& info, const PlanOptions& po, const LoadOptions& o,
                         const std::vector<Strategy>& chain, Plan& plan, uint64_t host_avail,
                         uint64_t dev_avail) {
  // (host_avail and dev_avail are copies: auto narrows them by the headroom below.)
  const uint32_t cap = std::clamp<uint32_t>(o.max_seq, 1, kMaxSequences);
  if (o.n_seq == 1) return Width{1, "requested"};
  const StrategyPlan* sp = first_fitting(plan, chain, o, host_avail, dev_avail);
  if (sp == nullptr && o.n_seq == 0) return Width{1, "nothing fits"};  // the chain says why
  // auto keeps headroom for what the evaluation itself allocates beside the plan's buffers.
  if (o.n_seq == 0) {
    host_avail -= std::min(width_headroom(host_avail), host_avail - sp->host.total());
    if (plan.accelerator.present) {
      dev_avail -= std::min(width_headroom(dev_avail), dev_avail - sp->device.total());
    }
  }
  Width w{o.n_seq == 0 ? cap : std::min(o.n_seq, kMaxSequences),
          o.n_seq == 0 ? (cap == o.max_seq ? "items" : "llama.cpp's limit") : "requested"};
  if (sp != nullptr && o.skip_over_budget) {
    uint64_t n_mem = kMaxSequences;
    std::string mem_bound;
    auto limit = [&](uint64_t room, uint64_t kv, const char* what) {
      if (kv == 0) return;
      if (const uint64_t n = 1 + room / kv; n < n_mem) {
        n_mem = n;
        mem_bound = what;
      }
    };
    limit(host_avail - sp->host.total(), sp->host.kv, "host memory");
    if (plan.accelerator.present) {
      limit(dev_avail - sp->device.total(), sp->device.kv, "device memory");
    }
    if (n_mem < w.n) {
      if (o.n_seq != 0) {
        return make_error(
            ErrorCode::kResource,
            fmt::format("parallel = {} does not fit: {} sequences of {} KV cells take {} of KV "
                        "({} each) beside the {} strategy's weights and buffers; the most that "
                        "fit the {} budget: {}",
                        o.n_seq, o.n_seq, plan.n_ctx,
                        format_bytes((sp->host.kv + sp->device.kv) * o.n_seq),
                        format_bytes(sp->host.kv + sp->device.kv), to_string(sp->strategy),
                        mem_bound, n_mem));
      }
      w = {static_cast<uint32_t>(n_mem), mem_bound};
    }
  }
  if (w.n == 1) return w;
  // Compute buffers grow a little with the sequences: step down until the plan fits.
  while (true) {
    auto wide = plan_at(info, po, w.n, o.isolation);
    if (!wide) return std::unexpected(wide.error());
    const StrategyPlan* q = sp == nullptr ? nullptr : find_plan(*wide, sp->strategy);
    const auto why = q == nullptr ? std::nullopt : skip_reason(*q, o, *wide, host_avail, dev_avail);
    if (!why || w.n == 1) {
      wide->plan_ms += plan.plan_ms;
      plan = std::move(*wide);
      return w;
    }
    if (o.n_seq != 0) {
      return make_error(
          ErrorCode::kResource,
          fmt::format("parallel = {} does not fit: {}; fewer sequences may", o.n_seq, *why));
    }
    w.n = std::max<uint32_t>(1, w.n * 9 / 10);
  }
}

// auto with several sequences: the attempt holds a unified context too while it measures the
// layouts (one context at a time), whose compute buffers are wider (attention spans the pool).
// The plan takes the larger of the two per buffer when the first strategy that fits split still
// fits so. Otherwise split is the only candidate: returns why, for the attempt log.
Result<std::string> plan_both_layouts(const ModelInfo& info, PlanOptions po, const LoadOptions& o,
                                      const std::vector<Strategy>& chain, Plan& plan,
                                      uint64_t host_avail, uint64_t dev_avail) {
  po.kv_unified = true;
  auto unified = plan_at(info, po, plan.n_seq, o.isolation);
  if (!unified) return std::unexpected(unified.error());
  Plan both = plan;
  for (auto& sp : both.strategies) {
    if (const StrategyPlan* u = find_plan(*unified, sp.strategy)) {
      sp.host.compute = std::max(sp.host.compute, u->host.compute);
      sp.device.compute = std::max(sp.device.compute, u->device.compute);
    }
  }
  const StrategyPlan* split = first_fitting(plan, chain, o, host_avail, dev_avail);
  const auto why = split == nullptr ? std::nullopt
                                    : skip_reason(*find_plan(both, split->strategy), o, both,
                                                  host_avail, dev_avail);
  if (!why) {
    both.plan_ms += unified->plan_ms;
    plan = std::move(both);
    return std::string();
  }
  const StrategyPlan* u = find_plan(*unified, split->strategy);
  return fmt::format(
      "unified KV's compute buffers ({} host, {} device; split: {}, {}) would not fit the {} "
      "strategy's budgets: {}",
      format_bytes(u->host.compute), format_bytes(u->device.compute),
      format_bytes(split->host.compute), format_bytes(split->device.compute),
      to_string(split->strategy), *why);
}

// The attempt as the plan projects it, before it is tried (or skipped).
Attempt planned_attempt(const StrategyPlan& sp, const LoadOptions& o, const Plan& plan,
                        uint64_t host_avail, uint64_t dev_avail) {
  Attempt a;
  a.strategy = sp.strategy;
  a.recipe = is_quantize(sp.strategy) ? o.recipe : "";
  a.isolation = o.isolation;
  a.projected_host = sp.host;
  a.projected_device = sp.device;
  a.available_host = host_avail;
  a.available_device = plan.accelerator.present ? dev_avail : 0;
  a.placement.n_gpu_layers = sp.n_gpu_layers;
  a.placement.n_layers = sp.n_layers;
  return a;
}

AttemptSpec attempt_spec(const std::string& model_path, const StrategyPlan& sp,
                         const LoadOptions& o, const Plan& plan, const std::string& kv_note) {
  AttemptSpec spec;
  spec.model_path = model_path;
  spec.strategy = sp.strategy;
  spec.recipe = o.recipe;
  spec.n_ctx = plan.n_ctx;
  spec.n_seq = plan.n_seq;
  spec.kv = kv_note.empty() ? o.kv : KvLayout::kSplit;
  spec.kv_note = kv_note;
  spec.n_batch = o.n_batch;
  spec.n_threads = o.n_threads;
  spec.n_gpu_layers = sp.n_gpu_layers;
  if (plan.accelerator.present) spec.device_budget = o.device_budget;
  spec.warmup = o.warmup;
  spec.adapters = o.adapters;
  return spec;
}

// The task's items, written once for every worker of the chain.
class ItemsFile {
 public:
  ~ItemsFile() {
    if (dir_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  Result<std::string> write(const std::vector<DatasetItem>& items) {
    std::error_code ec;
    std::string tmpl = std::filesystem::temp_directory_path(ec) / "clinbench-items-XXXXXX";
    if (ec || ::mkdtemp(tmpl.data()) == nullptr) {
      return make_error(ErrorCode::kIo,
                        fmt::format("cannot make a directory for the worker's items ({})",
                                    ec ? ec.message() : std::strerror(errno)));
    }
    dir_ = tmpl;
    const std::string path = dir_ + "/items.jsonl";
    if (auto w = write_items_file(path, items); !w) return std::unexpected(w.error());
    return path;
  }

 private:
  std::string dir_;
};

// One attempt that the plan allows, with the chain's task.
Attempt try_strategy(const AttemptSpec& spec, const LoadOptions& o, const WorkerLimits& limits,
                     const std::string& items_path, const RecordSink& sink) {
  const auto* task = std::get_if<EvalTask>(&o.task);
  if (o.isolation == Isolation::kProcess) {
    WorkerSpec ws{spec, std::nullopt};
    if (task) ws.eval = EvalJob{items_path, task->model, task->settings};
    return run_in_worker(ws, limits, sink);
  }
  AfterLoad after_load;
  auto energy = std::make_shared<nlohmann::json>();
  if (task) after_load = make_eval_task(task->items, task->model, task->settings, sink, energy);
  Attempt a = run_in_process(spec, after_load);
  a.energy = *energy;
  return a;
}

}  // namespace

const char* to_string(HostLimit l) {
  switch (l) {
    case HostLimit::kAddressSpace:
      return "address_space";
    case HostLimit::kResident:
      return "resident";
    case HostLimit::kAuto:
      break;
  }
  return "auto";
}

Result<AttemptLog> run_load_chain(const std::string& model_path, const LoadOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  auto strategies = requested_strategies(o.strategy);
  if (!strategies) return std::unexpected(strategies.error());
  auto recipe = resolve_recipe(o.recipe);
  if (!recipe) return std::unexpected(recipe.error());
  auto info = read_model_info(model_path, {.hash = o.hash});
  if (!info) return std::unexpected(info.error());
  auto adapters = check_adapters(o.adapters, *info, {.hash = o.hash});
  if (!adapters) return std::unexpected(adapters.error());
  PlanOptions po;
  po.adapters = o.adapters;
  po.n_ctx = o.n_ctx;
  po.cells = o.cells;
  po.n_batch = o.n_batch;
  po.recipe = o.recipe;
  po.device_budget = o.device_budget;
  po.kv_unified = o.kv == KvLayout::kUnified;
  // With worker processes the plan is built in one too, so that this process never opens the
  // accelerator (model/plan_child.h). First with one sequence, then at the chosen width.
  auto plan = plan_at(*info, po, 1, o.isolation);
  if (!plan) return std::unexpected(plan.error());
  // The cells are sized once: the wider plans keep them.
  const uint32_t n_ctx_items = plan->n_ctx_items;
  po.n_ctx = plan->n_ctx;
  po.cells = {};
  const uint64_t host_avail = o.host_budget.value_or(available_host_memory_bytes());
  const uint64_t dev_avail = o.device_budget.value_or(plan->accelerator.free);
  auto width = plan_width(*info, po, o, *strategies, *plan, host_avail, dev_avail);
  if (!width) return std::unexpected(width.error());
  std::string kv_note;  // auto settled on split by the budgets
  if (o.kv == KvLayout::kAuto && plan->n_seq > 1) {
    auto note = plan_both_layouts(*info, po, o, *strategies, *plan, host_avail, dev_avail);
    if (!note) return std::unexpected(note.error());
    kv_note = std::move(*note);
  }

  AttemptLog log;
  log.model_path = model_path;
  log.model_sha256 = info->sha256.value_or("");
  log.architecture = info->architecture;
  log.adapters = std::move(*adapters);
  log.requested = o.strategy;
  log.n_ctx = plan->n_ctx;
  log.n_seq = plan->n_seq;
  log.n_seq_bound = width->bound;
  log.kv = to_string(o.kv);
  log.n_ctx_items = n_ctx_items;
  log.accelerator = plan->accelerator;
  log.plan_ms = plan->plan_ms;
  log.started_at = utc_now_iso();
  const WorkerLimits limits = worker_limits(o, plan->accelerator.present);

  ItemsFile items_file;
  std::string items_path;
  if (const auto* task = std::get_if<EvalTask>(&o.task);
      task && o.isolation == Isolation::kProcess) {
    auto path = items_file.write(task->items);
    if (!path) return std::unexpected(path.error());
    items_path = *path;
  }
  // Records reach on_record through here; its first error ends the chain and is returned.
  bool records_seen = false;
  std::optional<Error> sink_error;
  const RecordSink sink = [&](const ItemRecord& r) -> Result<void> {
    records_seen = true;
    if (!o.on_record) return {};
    auto taken = o.on_record(r);
    if (!taken) sink_error = taken.error();
    return taken;
  };

  for (Strategy s : *strategies) {
    const StrategyPlan* sp = find_plan(*plan, s);
    Attempt a = planned_attempt(*sp, o, *plan, host_avail, dev_avail);
    if (auto why = skip_reason(*sp, o, *plan, host_avail, dev_avail)) {
      a.outcome = Outcome::kSkipped;
      a.reason = std::move(*why);
    } else {
      records_seen = false;
      Attempt done = try_strategy(attempt_spec(model_path, *sp, o, *plan, kv_note), o, limits,
                                  items_path, sink);
      done.projected_host = a.projected_host;
      done.projected_device = a.projected_device;
      done.available_host = a.available_host;
      done.available_device = a.available_device;
      if (done.placement.n_layers == 0) done.placement = a.placement;
      a = std::move(done);
    }
    log.attempts.push_back(std::move(a));
    if (sink_error) return std::unexpected(*sink_error);
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

}  // namespace clinbench
