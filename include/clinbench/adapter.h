// LoRA adapters on a base model: which adapter files a model entry applies and with what scale,
// what an adapter file holds, and the check of an adapter against its base that runs before
// anything is loaded or evaluated (docs/adapters.md). llama.cpp's GGUF adapter format:
// general.type = "adapter", adapter.type = "lora", adapter.lora.alpha, and for each base matrix W
// (ne = [n_in, n_out]) a pair `W.lora_a` ([n_in, rank]) and `W.lora_b` ([rank, n_out]).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clinbench/error.h"
#include "clinbench/model_info.h"

namespace clinbench {

// One adapter a model entry applies: the file and the scale llama.cpp multiplies its delta by
// (on top of alpha / rank).
struct AdapterSpec {
  std::string path;
  float scale = 1.0f;
};

// Parses "FILE[:SCALE]" (--lora): the scale after the last ':' when it reads as a number, else
// the whole text is the path and the scale 1. Errors name `flag` and the value: an empty path,
// a scale that is not finite.
Result<AdapterSpec> parse_adapter_spec(const std::string& text, const std::string& flag);

// What an adapter file holds, read from its metadata; checked against a base model.
struct AdapterInfo {
  std::string path;
  std::string sha256;  // "" when hashing was skipped
  float scale = 1.0f;
  std::string architecture;          // general.architecture (the base's)
  std::string name;                  // general.name, "" when absent
  uint32_t rank = 0;                 // the largest rank of its pairs (they rarely differ)
  float alpha = 0;                   // adapter.lora.alpha; 0: the delta is scaled by `scale` alone
  std::vector<std::string> targets;  // base tensors it changes, in file order
  uint64_t bytes = 0;                // tensor data bytes (lora_a and lora_b of every target)
};

struct AdapterCheckOptions {
  bool hash = true;  // stream the file through SHA-256
};

// Reads `spec.path` and checks it against `base` as llama.cpp would when it applies it, and
// more: every error names the adapter file and what does not match (not a GGUF, truncated,
// general.type not "adapter", adapter.type not "lora", another architecture, a tensor the base
// lacks, a shape that does not fit the base's, an unpaired lora_a/lora_b, a rank that differs
// between a pair's halves, no tensors at all, a scale that is not finite).
Result<AdapterInfo> check_adapter(const AdapterSpec& spec, const ModelInfo& base,
                                  const AdapterCheckOptions& options = {});

// check_adapter for each spec, in order; the first error.
Result<std::vector<AdapterInfo>> check_adapters(const std::vector<AdapterSpec>& specs,
                                                const ModelInfo& base,
                                                const AdapterCheckOptions& options = {});

// "FILE" or "FILE:SCALE" (scale printed when not 1), as --lora takes it.
std::string to_string(const AdapterSpec& spec);

}  // namespace clinbench
