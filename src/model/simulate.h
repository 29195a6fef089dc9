// llama.cpp's own memory plan for a model: the model and a context built with no_alloc, and the
// bytes llama.cpp would allocate for each buffer, summed per side (host or accelerator).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clinbench/error.h"
#include "clinbench/plan.h"
#include "clinbench/strategy.h"
#include "model/gguf_file.h"

struct llama_context;
struct ggml_backend_buffer_type;

namespace clinbench {

struct Simulated {
  Bytes host;
  Bytes device;
};

struct SimulationShape {
  int n_gpu_layers = 0;              // -1: all
  uint32_t n_ctx = kDefaultContext;  // per sequence
  uint32_t n_batch = kDefaultBatch;
  uint32_t n_seq = 1;  // sequences
  // One pool of n_ctx * n_seq cells every sequence attends over (llama.cpp's kv_unified), or
  // n_ctx cells of its own per sequence.
  bool kv_unified = false;
};

// A GGUF file's stand-in to plan with: its metadata and a hole where its tensor data was, in an
// anonymous in-memory file, with the vocabulary left out (tokens, scores, types and merges
// dropped, declared "no_vocab" of the same size). With keep_vocabulary, or where no such copy
// can be made, the file itself. llama.cpp builds the same tensors,
// shapes, placement and buffers from it as from the file. Memory depends on the vocabulary's
// size only, and its load (every token and merge hashed, then freed) is most of the time a
// simulation of the real file takes: about 0.6 s of 0.7 s for a 262k vocabulary.
class PlanningFile {
 public:
  static Result<PlanningFile> create(const std::string& path, bool keep_vocabulary = false);
  PlanningFile(PlanningFile&& other) noexcept;
  PlanningFile& operator=(PlanningFile&&) = delete;
  PlanningFile(const PlanningFile&) = delete;
  ~PlanningFile();

  // /proc/self/fd/N; the file's own path where no in-memory file could be made.
  const std::string& path() const { return path_; }
  bool has_vocabulary() const { return has_vocabulary_; }

  // The model as llama.cpp loads the file.
  Result<Simulated> simulate(const SimulationShape& shape) const;
  // The model with each tensor in the type `choices` gives it, built as the quantize:*
  // strategies build theirs (llama_model_init_from_user).
  Result<Simulated> simulate_with_types(const std::vector<TensorChoice>& choices,
                                        const SimulationShape& shape);

 private:
  PlanningFile() = default;
  std::string source_;  // the real file, named in errors
  GgufFile meta_;       // what the in-memory file holds
  int fd_ = -1;
  std::string path_;
  bool has_vocabulary_ = false;
};

// Builds the model in `path` and a context with no_alloc; sums llama.cpp's memory breakdown.
Result<Simulated> simulate(const std::string& path, const SimulationShape& shape);

// Host memory: buffers in RAM, whatever their layout. The CPU's "extra" buffer types (repacked
// q4_0/q4_K/q8_0 weights) are not host buffers to ggml, since their bytes are not in ggml's
// layout, but they live in RAM all the same; pinned buffers of a GPU backend do too.
bool in_host_memory(ggml_backend_buffer_type* buft);

// The bytes llama.cpp allocated for a context and its model, per side.
Simulated memory_breakdown(llama_context* ctx);

}  // namespace clinbench
