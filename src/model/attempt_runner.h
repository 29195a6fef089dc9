// One attempt: load a model with one strategy, validate it, and describe what happened. Runs
// inside a worker process (`clinbench __worker SPEC`) or in-process (--isolation none).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "clinbench/adapter.h"
#include "clinbench/attempt.h"
#include "clinbench/evaluate.h"

struct llama_model;
struct llama_context;

namespace clinbench {

struct AttemptSpec {
  std::string model_path;
  Strategy strategy = Strategy::kNative;
  std::string recipe = kDefaultRecipe;
  uint32_t n_ctx = kDefaultContext;  // per sequence
  uint32_t n_seq = 1;                // sequences, each with n_ctx cells (their own, or pooled)
  // The sequences' KV layout; kAuto measures both after the warm-up (more than one sequence).
  KvLayout kv = KvLayout::kAuto;
  // Why the loading chain settled the layout before the attempt (auto, when unified's buffers do
  // not fit the budgets): the attempt records it with chosen_by "budget". "": it did not.
  std::string kv_note;
  uint32_t n_batch = kDefaultBatch;
  int n_threads = 0;
  int n_gpu_layers = 0;
  // With an accelerator: the device memory this attempt may use. The worker allocates the rest
  // of the free memory first and holds it until the attempt ends. Unset: all free memory.
  std::optional<uint64_t> device_budget;
  WarmupOptions warmup;
  // LoRA adapters applied on top of the base after it loads (checked against it beforehand by
  // the chain), in their own precision whatever the strategy does to the base.
  std::vector<AdapterSpec> adapters;
};

// Work done with a loaded, validated model before it is freed (the worker's task). An error
// fails the attempt with its message as the reason.
using AfterLoad = std::function<Result<void>(llama_model*, llama_context*, const AttemptSpec&)>;

// Loads, validates and runs `after_load`. Fills outcome (kOk or kFailed), reason, init_ms,
// placement, warm-up and peak device memory. Never throws.
Attempt execute_attempt(const AttemptSpec& spec, const AfterLoad& after_load = {});

}  // namespace clinbench
