// Backend on a loaded llama.cpp model and context (in the worker process).
#pragma once

#include <memory>

#include "clinbench/backend.h"

struct llama_model;
struct llama_context;

namespace clinbench {

// Does not own model or context; they must outlive the backend.
std::unique_ptr<Backend> make_llama_backend(llama_model* model, llama_context* ctx);

}  // namespace clinbench
