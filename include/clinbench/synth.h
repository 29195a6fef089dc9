// Synthetic GGUF models of real architectures and shapes, with random weights and a real
// vocabulary (llama.cpp's models/ggml-vocab-*.gguf). Their speed and memory are those of a real
// model of that shape; their answers are noise.
#pragma once

#include <cstdint>
#include <optional>
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

// A random LoRA adapter in llama.cpp's GGUF format (general.type "adapter", adapter.type "lora",
// adapter.lora.alpha, `<tensor>.lora_a` [n_in, rank] and `<tensor>.lora_b` [rank, n_out]) for the
// base model in `base`, deterministic for a seed: for tests and benchmarks without a download.
struct LoraSynthOptions {
  std::string base;  // the base model's GGUF
  uint32_t rank = 8;
  std::optional<float> alpha;  // default: the rank (delta scaled by 1)
  float scale_init = 0.02f;    // standard deviation of the random lora_a and lora_b values
  std::string type = "f32";    // f32 | f16
  uint64_t seed = 42;
  // lora_b all zero (PEFT's initial state): an adapter that changes nothing.
  bool zero = false;
  // Base tensors to adapt: a block tensor's short name ("attn_q") or a full name
  // ("output.weight"). Empty: the attention and feed-forward projections of every block.
  std::vector<std::string> targets;
};

// Errors name the option: a rank of 0, a base that is missing, not a GGUF or an adapter, targets
// the base does not have.
Result<SynthResult> write_synthetic_lora(const LoraSynthOptions& options, const std::string& path);

}  // namespace clinbench
