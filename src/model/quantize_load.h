// quantize:* strategies: builds a llama.cpp model from a float GGUF with each tensor converted
// to the recipe's type while loading (llama_model_init_from_user). Source tensors are streamed
// from the file in row chunks, so the peak is the quantized model plus one chunk per thread;
// no converted file is written and no whole float copy is held.
#pragma once

#include <string>
#include <vector>

#include "clinbench/error.h"
#include "clinbench/model_info.h"
#include "clinbench/strategy.h"

struct llama_model;
struct llama_model_params;

namespace clinbench {

Result<llama_model*> load_quantized_model(const ModelInfo& model,
                                          const std::vector<TensorChoice>& choices,
                                          const llama_model_params& params, int n_threads);

}  // namespace clinbench
