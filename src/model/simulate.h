// llama.cpp's own memory plan for a model: the model and a context built with no_alloc, and the
// bytes llama.cpp would allocate for each buffer, summed per side (host or accelerator).
#pragma once

#include <cstdint>
#include <string>

#include "clinbench/error.h"
#include "clinbench/plan.h"
#include "model/gguf_file.h"

namespace clinbench {

struct Simulated {
  Bytes host;
  Bytes device;
};

struct SimulationShape {
  int n_gpu_layers = 0;  // -1: all
  uint32_t n_ctx = 4096;
  uint32_t n_batch = 512;
  uint32_t n_seq = 1;
};

// A stand-in for a GGUF file to plan with: its metadata with the vocabulary left out (tokens,
// scores, types and merges dropped, declared "no_vocab" of the same size) and a hole where its
// tensor data was, in an anonymous in-memory file. llama.cpp loads it as it loads the file:
// same tensors, shapes, placement and buffer types. Memory depends on the vocabulary's size
// only, and its load (every token and merge hashed, then freed) is most of the time a
// simulation of the real file takes: about 0.6 s of 0.7 s for a 262k vocabulary.
class PlanningFile {
 public:
  static Result<PlanningFile> create(const std::string& path);
  PlanningFile(PlanningFile&& other) noexcept;
  PlanningFile& operator=(PlanningFile&&) = delete;
  PlanningFile(const PlanningFile&) = delete;
  ~PlanningFile();
  const std::string& path() const { return path_; }  // /proc/self/fd/N
  bool has_vocabulary() const { return has_vocabulary_; }

 private:
  PlanningFile() = default;
  int fd_ = -1;
  std::string path_;
  bool has_vocabulary_ = false;
};

// Builds the model in `path` and a context with no_alloc; sums llama.cpp's memory breakdown.
Result<Simulated> simulate(const std::string& path, const SimulationShape& shape);

}  // namespace clinbench
