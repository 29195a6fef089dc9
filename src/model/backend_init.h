// One-time llama.cpp backend initialisation for this process.
#pragma once

#include <ggml-backend.h>
#include <llama.h>

namespace clinbench {

// The first GPU (or integrated GPU) ggml knows, nullptr on CPU-only builds and machines. RPC
// devices count once registered (ensure_rpc_devices, clinbench/rpc.h), after any local GPU.
ggml_backend_dev_t accelerator_device();

// llama.cpp's n_gpu_layers for `layers` of the model's repeating layers on the accelerator. It
// counts the output head as one more layer and offloads it first: n_gpu_layers = N puts the
// head and the last N - 1 layers there. So the head comes with any offloaded layer, and all of
// them need n_layer + 1 (passing n_layer leaves the first layer on the CPU).
inline int llama_gpu_layers(int layers) { return layers > 0 ? layers + 1 : 0; }

// Sets llama.cpp's n_gpu_layers (-1: all) and the devices the model is built with: the
// accelerator alone, or none at all when no layer goes there. By default llama.cpp splits the
// layers across every GPU it knows (a local one and RPC devices alike), where the plan counts
// one; and with no layer there a GPU would still compute large batches from weights in host
// memory (op offload), with compute buffers of its own that a `cpu` attempt must not need.
void place_layers(llama_model_params& mp, int n_gpu_layers);

// Initialises llama.cpp's backends once (thread-safe) and installs clinbench's log routing.
void ensure_llama_backend();

}  // namespace clinbench
