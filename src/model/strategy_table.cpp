#include "model/strategy_table.h"

#include <fmt/format.h>
#include <llama.h>

#include <algorithm>

#include "model/adapter_load.h"
#include "model/backend_init.h"

namespace clinbench {

namespace {

uint64_t layer_weight_bytes(const ModelInfo& m, int layer) {
  uint64_t sum = 0;
  for (const auto& t : m.tensors) {
    if (t.layer == layer) sum += t.bytes;
  }
  return sum;
}

// The output head's weights (output norm and projection; a tied head is a copy of the token
// embeddings), which llama.cpp puts on the accelerator with the first offloaded layer.
uint64_t output_head_bytes(const ModelInfo& m) {
  uint64_t sum = 0, embeddings = 0;
  bool projection = false;
  for (const auto& t : m.tensors) {
    if (t.layer >= 0) continue;
    if (t.name.rfind("output", 0) == 0) sum += t.bytes;
    if (t.name == "output.weight") projection = true;
    if (t.name == "token_embd.weight") embeddings = t.bytes;
  }
  return projection ? sum : sum + embeddings;
}

// Offload: the most layers whose simulated device memory fits `budget`. An estimate from the
// tensor sizes (all compute buffers, the output head, then layers from the last, as llama.cpp
// offloads them) picks where to start; simulations then step up or down from it, so the
// plan is what llama.cpp allocates for the layer count it settles on.
struct OffloadFit {
  int layers = 0;
  Simulated memory;
};

Result<OffloadFit> fit_offload(const PlanInputs& in, uint64_t budget) {
  budget -= std::min(budget, in.device_reserve);
  const int n_layers = static_cast<int>(in.model.n_layer);
  const uint64_t kv_layer = n_layers > 0 ? in.full.device.kv / n_layers : 0;
  int k = 0;
  uint64_t dev = in.full.device.compute + output_head_bytes(in.model);
  for (int l = n_layers - 1; l >= 0 && dev <= budget; --l) {
    dev += layer_weight_bytes(in.model, l) + kv_layer;
    if (dev <= budget) ++k;
  }
  SimulationShape shape = in.shape;
  // The device memory with `layers` there: llama.cpp's simulation, plus the adapters' tensors
  // that go with those layers (beside their base tensors).
  auto simulate_k = [&](int layers) -> Result<Simulated> {
    shape.n_gpu_layers = llama_gpu_layers(layers);
    auto sim = in.planning.simulate(shape);
    if (!sim || in.options.adapters.empty()) return sim;
    auto adapters = plan_adapter_bytes(in.options.adapters, in.model, layers);
    if (!adapters) return std::unexpected(adapters.error());
    sim->device.weights += adapters->device;
    return sim;
  };
  auto sim = simulate_k(k);
  if (!sim) return std::unexpected(sim.error());
  while (k > 0 && sim->device.total() > budget) {
    sim = simulate_k(--k);
    if (!sim) return std::unexpected(sim.error());
  }
  while (k < n_layers) {
    auto more = simulate_k(k + 1);
    if (!more) return std::unexpected(more.error());
    if (more->device.total() > budget) break;
    ++k;
    sim = std::move(more);
  }
  // The layer count is fitted with the adapters; the plan adds their bytes itself (plan.cpp).
  if (!in.options.adapters.empty()) {
    auto adapters = plan_adapter_bytes(in.options.adapters, in.model, k);
    if (!adapters) return std::unexpected(adapters.error());
    sim->device.weights -= adapters->device;
  }
  return OffloadFit{k, *sim};
}

// native: the file as stored, every layer on the accelerator when there is one.
Result<void> plan_native(const PlanInputs& in, StrategyPlan& p) {
  p.host = in.full.host;
  p.device = in.full.device;
  p.n_gpu_layers = in.accelerator.present ? p.n_layers : 0;
  p.weight_bytes = in.model.weight_bytes;
  return {};
}

// quantize:q8 and quantize:q4: the model as the strategy builds it, with the recipe's tensor
// types, every layer on the accelerator when there is one.
Result<void> plan_quantize(const PlanInputs& in, StrategyPlan& p) {
  p.recipe = in.recipe.name;
  if (!is_float_type(in.model.dominant_type)) {
    p.applicable = false;
    p.reason = fmt::format(
        "weights are stored as {}, already quantized; quantize:* applies to f32/f16/bf16 models",
        in.model.dominant_type.empty() ? "unknown" : in.model.dominant_type);
  }
  auto choices = apply_recipe(in.recipe, p.strategy, in.model);
  if (!choices) return std::unexpected(choices.error());
  uint64_t qbytes = 0;
  for (const auto& c : *choices) qbytes += c.bytes;
  p.weight_bytes = qbytes;
  p.n_gpu_layers = in.accelerator.present ? p.n_layers : 0;
  p.host = in.full.host;
  p.device = in.full.device;
  if (p.applicable) {
    auto q = in.planning.simulate_with_types(*choices, in.shape);
    if (!q) return std::unexpected(q.error());
    p.host = q->host;
    p.device = q->device;
  }
  p.tensor_choices = std::move(*choices);
  return {};
}

// offload: stored precision, as many layers on the accelerator as the device budget holds.
Result<void> plan_offload(const PlanInputs& in, StrategyPlan& p) {
  p.weight_bytes = in.model.weight_bytes;
  if (!in.accelerator.present) {
    // No accelerator: zero layers fit on it, so everything stays on the host.
    p.host = in.host.host;
    p.reason = "no accelerator: 0 layers offloaded, everything on the host";
    return {};
  }
  auto fit = fit_offload(in, in.options.device_budget.value_or(in.accelerator.free));
  if (!fit) return std::unexpected(fit.error());
  p.n_gpu_layers = fit->layers;
  p.host = fit->memory.host;
  p.device = fit->memory.device;
  return {};
}

// cpu: everything on the host.
Result<void> plan_cpu(const PlanInputs& in, StrategyPlan& p) {
  p.host = in.host.host;
  p.weight_bytes = in.model.weight_bytes;
  return {};
}

}  // namespace

const char* to_string(WeightLoad load) {
  return load == WeightLoad::kQuantized ? "quantize-stream" : "mmap";
}

const std::vector<StrategyDef>& strategy_table() {
  static const std::vector<StrategyDef> table = {
      {Strategy::kNative,
       "native",
       "the GGUF as stored, by mmap; every layer on the accelerator when there is one",
       WeightLoad::kAsStored,
       LayerPlacement::kAll,
       {},
       plan_native},
      {Strategy::kQuantizeQ8,
       "quantize:q8",
       "float weights quantized to 8-bit while loading, in memory; every layer on the accelerator",
       WeightLoad::kQuantized,
       LayerPlacement::kAll,
       {"q8_0", "f16", "q8_0"},
       plan_quantize},
      {Strategy::kQuantizeQ4,
       "quantize:q4",
       "float weights quantized to 4-bit while loading, in memory; every layer on the accelerator",
       WeightLoad::kQuantized,
       LayerPlacement::kAll,
       {"q4_K", "q6_K", "q6_K"},
       plan_quantize},
      {Strategy::kOffload,
       "offload",
       "stored precision, as many layers on the accelerator as the device budget holds",
       WeightLoad::kAsStored,
       LayerPlacement::kFitted,
       {},
       plan_offload},
      {Strategy::kCpu,
       "cpu",
       "everything on the host",
       WeightLoad::kAsStored,
       LayerPlacement::kHostOnly,
       {},
       plan_cpu},
  };
  return table;
}

const StrategyDef& strategy_def(Strategy s) {
  for (const auto& d : strategy_table()) {
    if (d.strategy == s) return d;
  }
  return strategy_table().front();  // unreachable: every Strategy has an entry
}

int layers_on_device(Strategy s, int planned, int n_layers, bool accelerator) {
  if (!accelerator) return 0;
  switch (strategy_def(s).placement) {
    case LayerPlacement::kHostOnly:
      return 0;
    case LayerPlacement::kAll:
    case LayerPlacement::kFitted:
      break;
  }
  return std::clamp(planned, 0, n_layers);
}

}  // namespace clinbench
