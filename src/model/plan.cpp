#include "clinbench/plan.h"

#include <fmt/format.h>
#include <ggml-backend.h>
#include <llama.h>

#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "model/backend_init.h"
#include "model/llama_log.h"
#include "model/simulate.h"

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

uint64_t layer_weight_bytes(const ModelInfo& m, int layer,
                            const std::vector<TensorChoice>* choices) {
  uint64_t sum = 0;
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    if (m.tensors[i].layer != layer) continue;
    sum += choices ? (*choices)[i].bytes : m.tensors[i].bytes;
  }
  return sum;
}

// llama.cpp's plan with every layer on the accelerator (first) and, when there is one, with
// every layer on the host (second). From the file without its vocabulary; should that fail,
// from the file itself, so that the error is the one a load would give.
Result<std::pair<Simulated, std::optional<Simulated>>> simulate_placements(const std::string& path,
                                                                           bool acc,
                                                                           const PlanOptions& o,
                                                                           uint32_t n_ctx) {
  auto run =
      [&](const std::string& file) -> Result<std::pair<Simulated, std::optional<Simulated>>> {
    SimulationShape shape{acc ? -1 : 0, n_ctx, o.n_batch, o.n_seq};
    auto first = simulate(file, shape);
    if (!first) return std::unexpected(first.error());
    std::pair<Simulated, std::optional<Simulated>> out{*first, std::nullopt};
    if (acc) {
      shape.n_gpu_layers = 0;
      auto second = simulate(file, shape);
      if (!second) return std::unexpected(second.error());
      out.second = *second;
    }
    return out;
  };
  if (auto planning = PlanningFile::create(path)) {
    if (auto out = run(planning->path())) return out;
  }
  return run(path);
}

}  // namespace

uint64_t host_process_overhead() {
  // Measured with `clinbench load --attempt-all --host-memory` on stories260K (Debian 12,
  // x86-64): the worker needs about 40 MiB of address space before any model byte (binary,
  // shared libraries, allocator); each compute thread adds an 8 MiB stack reservation.
  const uint64_t threads = std::max(1u, std::thread::hardware_concurrency());
  return (48ull << 20) + threads * (8ull << 20);
}

const StrategyPlan* find_plan(const Plan& plan, Strategy s) {
  for (const auto& p : plan.strategies) {
    if (p.strategy == s) return &p;
  }
  return nullptr;
}

Result<Plan> plan_model(const ModelInfo& model, const PlanOptions& options) {
  ensure_llama_backend();
  const auto t0 = std::chrono::steady_clock::now();
  Plan plan;
  plan.accelerator = find_accelerator();
  // The context never exceeds what the model was trained for.
  plan.n_ctx = options.n_ctx != 0 ? options.n_ctx : model.n_ctx_train;
  if (model.n_ctx_train != 0) plan.n_ctx = std::min(plan.n_ctx, model.n_ctx_train);
  if (plan.n_ctx == 0) plan.n_ctx = 4096;
  const bool acc = plan.accelerator.present;

  auto sims = simulate_placements(model.path, acc, options, plan.n_ctx);
  if (!sims) return std::unexpected(sims.error());
  const Simulated& full = sims->first;
  const Simulated host_only = sims->second.value_or(full);
  const uint64_t overhead = host_process_overhead();
  const int n_layers = static_cast<int>(model.n_layer);

  auto recipe = resolve_recipe(options.recipe);
  if (!recipe) return std::unexpected(recipe.error());

  for (Strategy s : auto_chain()) {
    StrategyPlan p;
    p.strategy = s;
    p.n_layers = n_layers;
    switch (s) {
      case Strategy::kNative: {
        p.host = full.host;
        p.device = full.device;
        p.n_gpu_layers = acc ? n_layers : 0;
        p.weight_bytes = model.weight_bytes;
        break;
      }
      case Strategy::kQuantizeQ8:
      case Strategy::kQuantizeQ4: {
        p.recipe = recipe->name;
        if (!is_float_type(model.dominant_type)) {
          p.applicable = false;
          p.reason = fmt::format("weights are stored as {}, already quantized; quantize:* "
                                 "applies to f32/f16/bf16 models",
                                 model.dominant_type.empty() ? "unknown" : model.dominant_type);
        }
        auto choices = apply_recipe(*recipe, s, model);
        if (!choices) return std::unexpected(choices.error());
        uint64_t qbytes = 0;
        for (const auto& c : *choices) qbytes += c.bytes;
        p.weight_bytes = qbytes;
        p.tensor_choices = std::move(*choices);
        // Same placement as native; weights scale to their quantized size.
        p.host = full.host;
        p.device = full.device;
        p.n_gpu_layers = acc ? n_layers : 0;
        const uint64_t stored = full.host.weights + full.device.weights;
        if (acc && stored > 0) {
          p.device.weights = static_cast<uint64_t>(static_cast<long double>(full.device.weights) *
                                                   qbytes / stored);
          p.host.weights = qbytes - std::min(qbytes, p.device.weights);
        } else {
          p.host.weights = qbytes;
        }
        break;
      }
      case Strategy::kOffload: {
        p.weight_bytes = model.weight_bytes;
        if (!acc) {
          // No accelerator: zero layers fit on it, so everything stays on the host.
          p.host = host_only.host;
          p.reason = "no accelerator: 0 layers offloaded, everything on the host";
          break;
        }
        const uint64_t budget = options.device_budget.value_or(plan.accelerator.free);
        const uint64_t kv_layer = n_layers > 0 ? full.device.kv / n_layers : 0;
        uint64_t dev = full.device.compute;
        int ngl = 0;
        for (int l = n_layers - 1; l >= 0; --l) {  // llama.cpp offloads the last layers first
          const uint64_t add = layer_weight_bytes(model, l, nullptr) + kv_layer;
          if (dev + add > budget) break;
          dev += add;
          ++ngl;
        }
        p.n_gpu_layers = ngl;
        p.device.compute = full.device.compute;
        p.device.kv = kv_layer * ngl;
        p.device.weights = dev - p.device.compute - p.device.kv;
        p.host = host_only.host;
        p.host.weights -= std::min(p.host.weights, p.device.weights);
        p.host.kv -= std::min(p.host.kv, p.device.kv);
        break;
      }
      case Strategy::kCpu: {
        p.host = host_only.host;
        p.weight_bytes = model.weight_bytes;
        break;
      }
      case Strategy::kRemote:  // not in auto_chain(): nothing is loaded here
        break;
    }
    p.host.overhead = overhead;
    plan.strategies.push_back(std::move(p));
  }
  plan.plan_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return plan;
}

}  // namespace clinbench
