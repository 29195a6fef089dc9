#include "model/attempt_runner.h"

#include <fmt/format.h>
#include <ggml-backend.h>
#include <ggml-cpp.h>
#include <llama-cpp.h>
#include <llama.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <map>
#include <memory>
#include <thread>

#include "clinbench/model_info.h"
#include "clinbench/rpc.h"
#include "clinbench/units.h"
#include "model/backend_init.h"
#include "model/llama_log.h"
#include "model/quantize_load.h"
#include "model/simulate.h"
#include "model/strategy_table.h"
#include "model/warmup.h"
#include "util/test_crash.h"

namespace clinbench {

namespace {

uint64_t device_free(ggml_backend_dev_t dev) {
  size_t free = 0, total = 0;
  ggml_backend_dev_memory(dev, &free, &total);
  return free;
}

}  // namespace

Attempt execute_attempt(const AttemptSpec& spec, const AfterLoad& after_load) {
  ensure_llama_backend();
  Attempt a;
  a.strategy = spec.strategy;
  a.recipe = records_recipe(spec.strategy) ? spec.recipe : "";
  a.outcome = Outcome::kFailed;
  test_crash_hook(to_string(spec.strategy));

  const int n_threads = spec.n_threads > 0
                            ? spec.n_threads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (auto rpc = ensure_rpc_devices(); !rpc) {
    a.reason = rpc.error().message;
    return a;
  }
  ggml_backend_dev_t acc = accelerator_device();
  // A device budget below the free memory is made real: the rest is allocated and held for the
  // whole attempt, so a load that needs more than the budget fails in the driver.
  ggml_backend_buffer_ptr withheld;
  if (acc && spec.device_budget) {
    const uint64_t free_now = device_free(acc);
    if (free_now > *spec.device_budget) {
      const uint64_t hold = free_now - *spec.device_budget;
      withheld.reset(ggml_backend_buft_alloc_buffer(ggml_backend_dev_buffer_type(acc), hold));
      if (!withheld) {
        a.reason = fmt::format(
            "could not hold back {} of device memory to enforce the device budget of {}",
            format_bytes(hold), format_bytes(*spec.device_budget));
        return a;
      }
      a.device_withheld_bytes = hold;
    }
  }
  const uint64_t free_before = acc ? device_free(acc) : 0;
  uint64_t min_free = free_before;
  auto sample_device = [&] {
    if (acc) min_free = std::min(min_free, device_free(acc));
  };
  // A failed attempt records the device memory it had reached too.
  auto fail = [&](std::string reason) {
    sample_device();
    if (acc) a.peak_device_bytes = free_before - min_free;
    a.reason = std::move(reason);
    return a;
  };

  auto info = read_model_info(spec.model_path, {.hash = false});
  if (!info) return fail(info.error().message);
  a.placement.n_layers = static_cast<int>(info->n_layer);

  const StrategyDef& def = strategy_def(spec.strategy);
  llama_model_params mp = llama_model_default_params();
  const int on_device =
      layers_on_device(spec.strategy, spec.n_gpu_layers, a.placement.n_layers, acc != nullptr);
  place_layers(mp, llama_gpu_layers(on_device));
  a.placement.n_gpu_layers = on_device;

  const auto t0 = std::chrono::steady_clock::now();
  llama_model_ptr model;
  std::vector<TensorChoice> choices;
  {
    LogCapture capture;
    if (def.load == WeightLoad::kQuantized) {
      if (!is_float_type(info->dominant_type)) {
        return fail(fmt::format("weights are stored as {}; quantize:* needs f32/f16/bf16",
                                info->dominant_type));
      }
      auto recipe = resolve_recipe(spec.recipe);
      if (!recipe) return fail(recipe.error().message);
      auto c = apply_recipe(*recipe, spec.strategy, *info);
      if (!c) return fail(c.error().message);
      choices = std::move(*c);
      a.placement.load_mode = to_string(def.load);
      auto m = load_quantized_model(*info, choices, mp, n_threads);
      if (!m) return fail(m.error().message);
      model.reset(*m);
    } else {
      a.placement.load_mode = to_string(def.load);
      mp.load_mode = LLAMA_LOAD_MODE_MMAP;
      model.reset(llama_model_load_from_file(spec.model_path.c_str(), mp));
      if (!model) {
        return fail(fmt::format("llama.cpp failed to load the model: {}", capture.errors()));
      }
    }
  }
  sample_device();
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = spec.n_ctx;
  cp.n_batch = spec.n_batch;
  cp.n_ubatch = std::min<uint32_t>(spec.n_batch, 512);
  cp.n_threads = n_threads;
  // Sequences share one KV buffer: log-likelihood scoring copies a prompt's cache to one
  // sequence per option instead of evaluating it again.
  cp.n_seq_max = kSequences;
  cp.kv_unified = true;
  cp.n_threads_batch = n_threads;
  llama_context_ptr ctx;
  {
    LogCapture capture;
    ctx.reset(llama_init_from_model(model.get(), cp));
    if (!ctx) {
      return fail(fmt::format("llama.cpp failed to create a context of {} tokens: {}", spec.n_ctx,
                              capture.errors()));
    }
  }
  a.init_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  sample_device();
  const Simulated allocated = memory_breakdown(ctx.get());
  a.allocated_host = allocated.host;
  a.allocated_device = allocated.device;

  // Placement: the types actually held, and recipe fallbacks.
  std::map<std::string, TypeCount> hist;
  for (size_t i = 0; i < info->tensors.size(); ++i) {
    const auto& t = info->tensors[i];
    const std::string type = choices.empty() ? t.type : choices[i].type;
    auto& h = hist[type];
    h.type = type;
    h.tensors++;
    h.elements += static_cast<uint64_t>(t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3]);
    h.bytes += choices.empty() ? t.bytes : choices[i].bytes;
    if (!choices.empty() && !choices[i].fallback_reason.empty()) {
      a.placement.fallbacks.push_back(choices[i]);
    }
  }
  for (auto& [k, v] : hist) a.placement.tensor_types.push_back(v);
  std::sort(a.placement.tensor_types.begin(), a.placement.tensor_types.end(),
            [](const TypeCount& x, const TypeCount& y) { return x.bytes > y.bytes; });

  if (spec.warmup.enabled) {
    a.warmup = run_warmup(model.get(), ctx.get(), spec.warmup);
    sample_device();
    if (!a.warmup.passed && spec.warmup.required) {
      return fail("warm-up validation failed: " + a.warmup.failures.front());
    }
  }
  a.outcome = Outcome::kOk;
  if (after_load) {
    auto r = after_load(model.get(), ctx.get(), spec);
    if (!r) {
      a.outcome = Outcome::kFailed;
      a.reason = r.error().message;
    }
  }
  sample_device();
  if (acc) a.peak_device_bytes = free_before - min_free;
  return a;
}

}  // namespace clinbench
