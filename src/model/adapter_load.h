// LoRA adapters on a loaded llama.cpp model: what llama.cpp will allocate for them (the plan),
// loading them and setting them on a context (the attempt), and what they were given.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clinbench/adapter.h"
#include "clinbench/error.h"
#include "clinbench/model_info.h"

struct llama_model;
struct llama_context;
struct llama_adapter_lora;

namespace clinbench {

struct AdapterBytes {
  uint64_t host = 0;
  uint64_t device = 0;
};

// The bytes llama.cpp allocates for the adapters when the base has `on_device` of its n_layer
// blocks on the accelerator (the output head too when all are): each pair goes to the buffer
// type of its base tensor (llama-adapter.cpp; a repacked CPU type falls back to the plain CPU
// buffer, the token embeddings stay on the host), one buffer per adapter and buffer type.
// REQUIRES: the adapters passed check_adapter against `base`.
Result<AdapterBytes> plan_adapter_bytes(const std::vector<AdapterSpec>& adapters,
                                        const ModelInfo& base, int on_device);

// Adapters loaded on a model (llama_adapter_lora_init). llama.cpp frees them with the model;
// this object must not outlive it.
class LoadedAdapters {
 public:
  // Errors name the adapter file and llama.cpp's reason.
  static Result<LoadedAdapters> load(llama_model* model, const std::vector<AdapterSpec>& specs);

  bool empty() const { return adapters_.empty(); }
  size_t size() const { return adapters_.size(); }
  // Sets all of them on the context with their scales; `only` >= 0: that one alone; none():
  // the base model alone.
  Result<void> apply(llama_context* ctx, int only = -1);
  Result<void> none(llama_context* ctx);
  // The bytes llama.cpp allocated for them, per side.
  AdapterBytes allocated() const;

 private:
  std::vector<llama_adapter_lora*> adapters_;
  std::vector<float> scales_;
  std::vector<std::string> paths_;
};

}  // namespace clinbench
