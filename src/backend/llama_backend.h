// Backend on a loaded llama.cpp model and context (in the worker process).
#pragma once

#include <memory>

#include "clinbench/backend.h"

struct llama_model;
struct llama_context;

namespace clinbench {

namespace energy {
class Sampler;
}

// Does not own model, context or sampler; they must outlive the backend. With a running
// `sampler`, each generation and scoring gets its energy (Generation::energy_j,
// LoglikScores::energy_j), apportioned by energy.h's Ledger among the conversations that
// shared each decode.
std::unique_ptr<Backend> make_llama_backend(llama_model* model, llama_context* ctx,
                                            energy::Sampler* sampler = nullptr);

}  // namespace clinbench
