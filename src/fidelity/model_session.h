// One model of a fidelity measurement, loaded in this process through the loading chain's own
// attempt code (execute_attempt: recipe resolution, quantize-while-loading, context creation),
// used, and freed.
#pragma once

#include <functional>

#include "backend/llama_probe.h"
#include "clinbench/fidelity.h"

namespace clinbench {

// Reads `model`'s base and checks its adapters against it (check_adapters). Errors name the
// model's label and the adapter file: a missing or corrupt base, an adapter that does not fit.
Result<std::vector<AdapterInfo>> check_model_adapters(const FidelityModel& model, bool hash);

using ProbeWork = std::function<Result<void>(LlamaProbe& probe)>;

// Loads `model` with its adapters, runs `work` on it and frees it. Returns the load's memory
// figures (weights, types, the adapters as checked and hashed, peak RSS of this process from the
// load to the end of the work, load time); speed figures are the work's to fill. Errors: an
// adapter does not fit, the load failed (with its reason) or the work did.
Result<ModelUse> with_model(const FidelityModel& model, const FidelityOptions& options,
                            const ProbeWork& work);

}  // namespace clinbench
