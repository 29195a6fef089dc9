// The loading chain: plan, then try strategies in order, each in its own worker process, with
// warm-up validation after a successful load, and the work the worker then does with the model
// (a WorkerTask). The attempt log it returns (attempt.h) is the record every later command
// consumes (docs/attempt-log.md). Implemented by src/worker/, which owns both sides of the
// supervisor-worker protocol.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "clinbench/adapter.h"
#include "clinbench/attempt.h"
#include "clinbench/error.h"
#include "clinbench/evaluate.h"
#include "clinbench/item.h"
#include "clinbench/plan.h"
#include "clinbench/record.h"

namespace clinbench {

// How a worker is held to the host budget.
enum class HostLimit {
  kAuto,          // address space on CPU-only machines, resident memory with an accelerator
  kAddressSpace,  // RLIMIT_AS: every mapping counts, mmap'd weights included
  kResident,      // the supervisor kills the worker once its anonymous + shared resident memory
                  // is over the budget (file-backed pages, which the kernel can evict, not)
};
const char* to_string(HostLimit l);

// Evaluate `items` with the loaded model through the protocol engine (evaluate.h), emitting one
// ItemRecord per item as it finishes.
struct EvalTask {
  std::string model;  // the model's name in the run (ItemRecord::model)
  std::vector<DatasetItem> items;
  EvalSettings settings;
};

// What a worker does with the model after a successful load and warm-up: nothing (load only),
// or an evaluation. The worker module carries it across the process boundary.
using WorkerTask = std::variant<std::monostate, EvalTask>;

struct LoadOptions {
  std::string strategy = "auto";  // "auto" or a strategy name
  std::string recipe = kDefaultRecipe;
  std::optional<uint64_t> host_budget;    // default: MemAvailable
  std::optional<uint64_t> device_budget;  // default: the accelerator's free memory
  uint32_t n_ctx = kDefaultContext;       // KV cells per sequence (the most, with `cells`)
  // The run's neediest conversations: each sequence then gets what they need, up to n_ctx.
  CellsProbe cells;
  // Sequences: conversations in flight (decoding.parallel), 1 .. 256; 0: the most whose KV fits
  // the budgets beside the model, up to max_seq (the run's items).
  // auto keeps width_headroom(budget) of each budget free beside the plan.
  uint32_t n_seq = 1;
  uint32_t max_seq = kMaxSequences;
  // The sequences' KV layout. kAuto with more than one sequence: both are planned (the wider
  // compute buffers count) and measured after the warm-up, unless unified does not fit the
  // budgets, which leaves split.
  KvLayout kv = KvLayout::kAuto;
  uint32_t n_batch = kDefaultBatch;
  int n_threads = 0;  // 0: all cores
  Isolation isolation = Isolation::kProcess;
  bool skip_over_budget = true;  // false: attempt even what the plan says will not fit
  HostLimit host_limit = HostLimit::kAuto;
  bool hash = true;
  WarmupOptions warmup;
  // LoRA adapters on the base, in every attempt: checked against the base before anything is
  // planned (an error names the adapter and the mismatch), counted in the plan on the side of
  // their base tensors, and recorded in the attempt log.
  std::vector<AdapterSpec> adapters;
  // Work the worker does after a successful load and warm-up. Each record the task emits
  // reaches on_record in the supervisor (this thread), in order, as soon as it is produced; an
  // error on_record returns (a record that could not be stored) stops the attempt and the chain,
  // and run_load_chain returns it.
  WorkerTask task;
  std::function<Result<void>(const ItemRecord&)> on_record;
  // Stop the chain after an attempt that produced records, whatever its outcome: a model that
  // loaded and then crashed mid-task is not retried with another strategy, so one model's items
  // never mix strategies (a later resume finishes them).
  bool stop_after_records = false;
};

// Memory `parallel = "auto"` leaves unplanned in a budget: what the evaluation itself allocates
// beside llama.cpp's buffers (items, records, batches, the allocator's slack). 5%, at least 8 MiB.
// Without it the widest width sat at the budget's edge, and a 180 MiB worker held to its address
// space ran out of memory while evaluating.
uint64_t width_headroom(uint64_t budget);

// Runs the chain for one model. Errors only for problems with the request itself (unreadable or
// corrupt model, unknown strategy or recipe); a model that fails every strategy is a log with no
// success, not an error.
Result<AttemptLog> run_load_chain(const std::string& model_path, const LoadOptions& options);

}  // namespace clinbench
