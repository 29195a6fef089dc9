#include "clinbench/plan.h"

#include <fmt/format.h>
#include <ggml-backend.h>
#include <llama-ext.h>
#include <llama-cpp.h>
#include <llama.h>

#include <chrono>
#include <memory>
#include <thread>

#include "model/backend_init.h"
#include "model/llama_log.h"

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

struct Simulated {
  Bytes host;
  Bytes device;
};

// Builds model and context with no_alloc and sums llama.cpp's own memory breakdown.
Result<Simulated> simulate(const std::string& path, int n_gpu_layers, const PlanOptions& o,
                           uint32_t n_ctx) {
  llama_model_params mp = llama_model_default_params();
  mp.no_alloc = true;
  mp.load_mode = LLAMA_LOAD_MODE_NONE;
  mp.n_gpu_layers = n_gpu_layers;
  LogCapture capture;
  llama_model_ptr model(llama_model_load_from_file(path.c_str(), mp));
  if (!model) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("{}: llama.cpp cannot build the model: {}", path,
                                  capture.errors()));
  }
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = n_ctx;
  cp.n_batch = o.n_batch;
  cp.n_ubatch = std::min<uint32_t>(o.n_batch, 512);
  cp.n_seq_max = o.n_seq;
  cp.kv_unified = true;
  llama_context_ptr ctx(llama_init_from_model(model.get(), cp));
  if (!ctx) {
    return make_error(ErrorCode::kInternal,
                      fmt::format("{}: llama.cpp cannot build a context: {}", path,
                                  capture.errors()));
  }
  Simulated s;
  for (const auto& [buft, mb] : llama_get_memory_breakdown(ctx.get())) {
    Bytes& b = ggml_backend_buft_is_host(buft) ? s.host : s.device;
    b.weights += mb.model;
    b.kv += mb.context;
    b.compute += mb.compute;
  }
  return s;
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

  auto full = simulate(model.path, acc ? -1 : 0, options, plan.n_ctx);
  if (!full) return std::unexpected(full.error());
  Simulated host_only = *full;
  if (acc) {
    auto h = simulate(model.path, 0, options, plan.n_ctx);
    if (!h) return std::unexpected(h.error());
    host_only = *h;
  }
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
        p.host = full->host;
        p.device = full->device;
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
        p.host = full->host;
        p.device = full->device;
        p.n_gpu_layers = acc ? n_layers : 0;
        const uint64_t stored = full->host.weights + full->device.weights;
        if (acc && stored > 0) {
          p.device.weights = static_cast<uint64_t>(
              static_cast<long double>(full->device.weights) * qbytes / stored);
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
        const uint64_t kv_layer = n_layers > 0 ? full->device.kv / n_layers : 0;
        uint64_t dev = full->device.compute;
        int ngl = 0;
        for (int l = n_layers - 1; l >= 0; --l) {  // llama.cpp offloads the last layers first
          const uint64_t add = layer_weight_bytes(model, l, nullptr) + kv_layer;
          if (dev + add > budget) break;
          dev += add;
          ++ngl;
        }
        p.n_gpu_layers = ngl;
        p.device.compute = full->device.compute;
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
