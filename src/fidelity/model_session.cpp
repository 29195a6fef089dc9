#include "fidelity/model_session.h"

#include <fmt/format.h>
#include <malloc.h>

#include <string>

#include "clinbench/model_info.h"
#include "model/attempt_runner.h"
#include "util/process_memory.h"

namespace clinbench {

namespace {

std::string describe(const FidelityModel& m) {
  std::string lora;
  for (const auto& a : m.adapters) lora += fmt::format(", lora {}", to_string(a));
  return is_quantize(m.strategy)
             ? fmt::format("{} ({} {}, recipe {}{})", m.label, m.path, to_string(m.strategy),
                           m.recipe, lora)
             : fmt::format("{} ({} {}{})", m.label, m.path, to_string(m.strategy), lora);
}

}  // namespace

Result<std::vector<AdapterInfo>> check_model_adapters(const FidelityModel& model, bool hash) {
  // A missing or corrupt file is a bad input, not a failed load.
  auto info = read_model_info(model.path, {.hash = false});
  if (!info) return std::unexpected(info.error().with_context(model.label));
  auto adapters = check_adapters(model.adapters, *info, {.hash = hash});
  if (!adapters) return std::unexpected(adapters.error().with_context(model.label));
  return adapters;
}

Result<ModelUse> with_model(const FidelityModel& model, const FidelityOptions& options,
                            const ProbeWork& work) {
  auto adapters = check_model_adapters(model, /*hash=*/true);
  if (!adapters) return std::unexpected(adapters.error());
  AttemptSpec spec;
  spec.model_path = model.path;
  spec.strategy = model.strategy;
  spec.recipe = model.recipe.empty() ? kDefaultRecipe : model.recipe;
  spec.n_ctx = options.n_ctx;
  spec.n_threads = options.n_threads;
  spec.n_gpu_layers = 999;  // every layer on the accelerator when there is one
  spec.warmup.enabled = false;
  spec.adapters = model.adapters;
  std::optional<Error> work_error;
  reset_peak_rss();
  Attempt a = execute_attempt(
      spec, [&](llama_model* m, llama_context* ctx, const AttemptSpec&) -> Result<void> {
        LlamaProbe probe(m, ctx);
        if (auto r = work(probe); !r) work_error = r.error();
        return {};
      });
  const uint64_t peak = peak_rss_bytes();
  malloc_trim(0);  // the model is freed; give the heap back before the next one
  if (work_error) return std::unexpected(work_error->with_context(describe(model)));
  if (a.outcome != Outcome::kOk) {
    return make_error(ErrorCode::kInternal,
                      fmt::format("{} did not load: {}", describe(model), a.reason));
  }
  ModelUse use;
  use.adapters = std::move(*adapters);
  for (const auto& ad : use.adapters) use.adapter_bytes += ad.bytes;
  use.tensor_types = a.placement.tensor_types;
  uint64_t elements = 0;
  for (const auto& t : use.tensor_types) {
    use.weight_bytes += t.bytes;
    elements += t.elements;
  }
  if (elements > 0) {
    use.bits_per_weight =
        static_cast<double>(use.weight_bytes) * 8.0 / static_cast<double>(elements);
  }
  if (peak > 0) use.peak_rss_bytes = peak;
  use.load_ms = a.init_ms.value_or(0);
  return use;
}

}  // namespace clinbench
