// One-time llama.cpp backend initialisation for this process.
#pragma once

#include <ggml-backend.h>

namespace clinbench {

// The first GPU (or integrated GPU) ggml knows, nullptr on CPU-only builds and machines.
ggml_backend_dev_t accelerator_device();

// Initialises llama.cpp's backends once (thread-safe) and installs clinbench's log routing.
void ensure_llama_backend();

}  // namespace clinbench
