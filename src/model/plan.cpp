#include "clinbench/plan.h"

#include <fmt/format.h>
#include <ggml-backend.h>
#include <llama.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "clinbench/rpc.h"
#include "model/adapter_load.h"
#include "model/backend_init.h"
#include "model/cells_probe.h"
#include "model/llama_log.h"
#include "model/simulate.h"
#include "model/strategy_table.h"

namespace clinbench {

namespace {

Accelerator find_accelerator() {
  Accelerator acc;
  if (ggml_backend_dev_t dev = accelerator_device()) {
    acc.present = true;
    acc.name = ggml_backend_dev_name(dev);
    acc.description = ggml_backend_dev_description(dev);
    size_t free = 0, total = 0;
    ggml_backend_dev_memory(dev, &free, &total);
    acc.free = free;
    acc.total = total;
  }
  return acc;
}

// Every strategy's plan, from llama.cpp's simulation of the planning file: once as stored with
// all layers on the accelerator, once with none there (when there is one), and what each
// strategy of the table simulates beyond that (model/strategy_table.cpp).
Result<std::vector<StrategyPlan>> plan_strategies(PlanningFile& planning, const ModelInfo& model,
                                                  const Recipe& recipe, const Plan& plan,
                                                  const PlanOptions& options) {
  const bool acc = plan.accelerator.present;
  const SimulationShape shape{acc ? -1 : 0, plan.n_ctx, options.n_batch, plan.n_seq,
                              options.kv_unified};
  auto full = planning.simulate(shape);
  if (!full) return std::unexpected(full.error());
  Simulated host_only = *full;
  if (acc) {
    auto h = planning.simulate({0, plan.n_ctx, options.n_batch, plan.n_seq, options.kv_unified});
    if (!h) return std::unexpected(h.error());
    host_only = *h;
  }
  const uint64_t overhead = host_process_overhead();
  const uint64_t reserve = acc ? device_compute_reserve() : 0;
  const PlanInputs in{planning, model, recipe,    plan.accelerator, options,
                      shape,    *full, host_only, reserve};
  std::vector<StrategyPlan> out;
  for (const StrategyDef& def : strategy_table()) {
    StrategyPlan p;
    p.strategy = def.strategy;
    p.n_layers = static_cast<int>(model.n_layer);
    if (auto r = def.plan(in, p); !r) return std::unexpected(r.error());
    // The adapters' tensors, in their own precision whatever the strategy does to the base, on
    // the side of their base tensors. The compute buffers are the base's: llama.cpp reserves
    // them again with the adapters' products at the first decode, and for adapters of the
    // blocks' projections the output logits still set the peak (docs/adapters.md).
    if (p.applicable && !options.adapters.empty()) {
      const int on_device = layers_on_device(def.strategy, p.n_gpu_layers, p.n_layers, acc);
      auto bytes = plan_adapter_bytes(options.adapters, model, on_device);
      if (!bytes) return std::unexpected(bytes.error());
      p.host.weights += bytes->host;
      p.device.weights += bytes->device;
    }
    p.host.overhead = overhead;
    if (p.device.weights + p.device.kv + p.device.compute > 0) p.device.overhead = reserve;
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

uint64_t startup_address_space() {
#if defined(__SANITIZE_ADDRESS__)
  return 0;  // ASan's shadow is terabytes of address space, not the process's own
#endif
  static const uint64_t bytes = []() -> uint64_t {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmSize:", 0) == 0) return std::strtoull(line.c_str() + 7, nullptr, 10) * 1024;
    }
    return uint64_t{0};
  }();
  return bytes;
}

uint64_t device_compute_reserve() {
  // Measured on an H200 (CUDA 13, ggml-cuda at 80fb11a; docs/gpu-check.md): during the warm-up a
  // Llama-3-8B-shaped model in f16, in q4_0/q8_0, all layers or 15 of 32 on the device, took 69
  // to 73 MiB of device memory beyond ggml's buffers (cuBLAS's workspace and ggml-cuda's scratch
  // pool), and an offload planned 40 MiB under its budget ran out of memory in a matrix
  // multiplication. Kept free with a margin for wider models. RPC devices (whose server holds
  // its own buffers) and CPU-only builds need none.
  ggml_backend_dev_t dev = accelerator_device();
  if (dev == nullptr) return 0;
  const std::string backend = ggml_backend_reg_name(ggml_backend_dev_backend_reg(dev));
  return backend == "RPC" ? 0 : 128ull << 20;
}

uint64_t host_process_overhead() {
  // Measured with `clinbench load --attempt-all --host-memory` on stories260K (Debian 12,
  // x86-64, CPU build): the worker needs about 40 MiB of address space before any model byte
  // (binary, shared libraries, allocator); each compute thread adds an 8 MiB stack reservation.
  // A build linked against CUDA starts far bigger (755 MiB here: cuBLAS's libraries and what
  // they allocate when loaded), so this process's own address space at start, which a worker
  // (the same binary) also has, counts when it is more, plus 24 MiB for the allocator.
  const uint64_t threads = std::max(1u, std::thread::hardware_concurrency());
  const uint64_t base = std::max<uint64_t>(48ull << 20, startup_address_space() + (24ull << 20));
  return base + threads * (8ull << 20);
}

const StrategyPlan* find_plan(const Plan& plan, Strategy s) {
  for (const auto& p : plan.strategies) {
    if (p.strategy == s) return &p;
  }
  return nullptr;
}

Result<Plan> plan_model(const ModelInfo& model, const PlanOptions& options) {
  ensure_llama_backend();
  if (auto rpc = ensure_rpc_devices(); !rpc) return std::unexpected(rpc.error());
  const auto t0 = std::chrono::steady_clock::now();
  Plan plan;
  plan.accelerator = find_accelerator();
  // The context never exceeds what the model was trained for.
  plan.n_seq = std::clamp<uint32_t>(options.n_seq, 1, kMaxSequences);
  plan.n_ctx = options.n_ctx != 0 ? options.n_ctx : model.n_ctx_train;
  if (model.n_ctx_train != 0) plan.n_ctx = std::min(plan.n_ctx, model.n_ctx_train);
  if (plan.n_ctx == 0) plan.n_ctx = kDefaultContext;
  // What the items need, when the caller says which: up to the cap above. A vocabulary that does
  // not load leaves the cap (the load then says why).
  if (!options.cells.conversations.empty()) {
    if (auto need = cells_needed(model.path, options.cells)) {
      plan.n_ctx_items = *need;
      const uint32_t rounded =
          (*need + kCellsGranularity - 1) / kCellsGranularity * kCellsGranularity;
      plan.n_ctx = std::min(plan.n_ctx, std::max(rounded, kCellsGranularity));
    }
  }

  auto recipe = resolve_recipe(options.recipe);
  if (!recipe) return std::unexpected(recipe.error());
  auto planning = PlanningFile::create(model.path);
  if (!planning) return std::unexpected(planning.error());
  auto strategies = plan_strategies(*planning, model, *recipe, plan, options);
  if (!strategies && !planning->has_vocabulary()) {
    // Without its vocabulary the model did not build: plan with it, so that the error is the
    // one a load would give.
    auto with_vocabulary = PlanningFile::create(model.path, /*keep_vocabulary=*/true);
    if (!with_vocabulary) return std::unexpected(with_vocabulary.error());
    strategies = plan_strategies(*with_vocabulary, model, *recipe, plan, options);
  }
  if (!strategies) return std::unexpected(strategies.error());
  plan.strategies = std::move(*strategies);
  plan.plan_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return plan;
}

}  // namespace clinbench
