// Synthetic GGUF models of real architectures and shapes, with random weights and a real
// vocabulary (llama.cpp's models/ggml-vocab-*.gguf). Their speed and memory are those of a real
// model of that shape; their answers are noise.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clinbench/error.h"

namespace clinbench {

struct SynthShape {
  std::string arch = "llama";  // llama | qwen2 | gemma2 | mistral
  uint32_t n_layer = 2;
  uint32_t n_embd = 256;
  uint32_t n_ff = 512;
  uint32_t n_head = 4;
  uint32_t n_head_kv = 2;
  uint32_t n_ctx = 2048;
  std::string vocab;  // vocabulary name (see synth_vocabularies) or a .gguf path
};

struct SynthOptions {
  SynthShape shape;
  std::string type = "f16";  // f32 | f16 | q8_0 | q4_0 | q4_K (weight matrices)
  uint64_t seed = 42;
  bool sparse = false;        // metadata + a sparse (all-zero) data section: for planning
  std::string name;           // general.name; default from the preset or shape
  std::string chat_template;  // tokenizer.chat_template; default: the architecture's
};

struct SynthPreset {
  std::string name;  // "llama3-8b", ...
  std::string description;
  SynthShape shape;
};

const std::vector<SynthPreset>& synth_presets();
// Vocabularies shipped with llama.cpp that synth can use, by architecture default.
std::string default_vocab_for(const std::string& arch);

struct SynthResult {
  uint64_t n_params = 0;
  uint64_t file_bytes = 0;
};

// Writes the model to `path` (atomically: a temp file renamed at the end). Errors name the
// option that is wrong (unknown arch or type, shapes that do not divide).
Result<SynthResult> write_synthetic_model(const SynthOptions& options, const std::string& path);

}  // namespace clinbench
