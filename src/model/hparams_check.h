// The hyperparameters of a GGUF checked before llama.cpp reads them. llama.cpp GGML_ASSERTs
// (aborts the process) on some bad values, such as a block count of 0 or above LLAMA_MAX_LAYERS,
// a key/value head count that does not divide the head count, or expert counts that disagree;
// others it takes with a shape error that does not name the key (a head count of 0), or
// silently (an end-of-generation token outside the vocabulary, which it replaces by a default).
#pragma once

#include "clinbench/error.h"
#include "clinbench/model_info.h"

struct gguf_context;

namespace clinbench {

// Checks the hyperparameters of `g`, whose facts (path, architecture, tensors) are in `info`.
// A key absent or of a type llama.cpp does not read is left to llama.cpp, whose error names it.
// Errors: kCorrupt for values no model can have, kUnsupported for values beyond llama.cpp's
// limits; each message names the file, the key and its value ("m.gguf: llama.block_count = 0:
// ...").
Result<void> check_hparams(const gguf_context* g, const ModelInfo& info);

}  // namespace clinbench
