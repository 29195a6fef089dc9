// One attempt: load a model with one strategy, validate it, and describe what happened. Runs
// inside a worker process (`clinbench __worker SPEC`) or in-process (--isolation none).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "clinbench/load.h"

struct llama_model;
struct llama_context;

namespace clinbench {

struct AttemptSpec {
  std::string model_path;
  Strategy strategy = Strategy::kNative;
  std::string recipe = "mixed";
  uint32_t n_ctx = 4096;
  uint32_t n_batch = 512;
  int n_threads = 0;
  int n_gpu_layers = 0;
  // With an accelerator: the device memory this attempt may use. The worker allocates the rest
  // of the free memory first and holds it until the attempt ends. Unset: all free memory.
  std::optional<uint64_t> device_budget;
  WarmupOptions warmup;
  nlohmann::json task;  // what the worker does after a successful load ({} for none)
};

nlohmann::json to_json(const AttemptSpec& s);
Result<AttemptSpec> attempt_spec_from_json(const nlohmann::json& j);

// Work done with a loaded, validated model before it is freed (evaluation, later). Errors fail
// the attempt; their result goes into Attempt's task_result.
using AfterLoad =
    std::function<Result<nlohmann::json>(llama_model*, llama_context*, const AttemptSpec&)>;

// Loads, validates and runs `after_load`. Fills outcome (kOk or kFailed), reason, init_ms,
// placement, warm-up and peak device memory. Never throws.
Attempt execute_attempt(const AttemptSpec& spec, const AfterLoad& after_load = {});

}  // namespace clinbench
