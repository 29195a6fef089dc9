// What a GGUF model file holds, read from its metadata only (no weight data is touched).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "clinbench/error.h"

namespace clinbench {

struct TensorInfo {
  std::string name;
  std::string type;             // ggml type name: "f32", "f16", "q4_K", ...
  std::array<int64_t, 4> ne{};  // elements per dimension (ne[0] is the row length)
  uint64_t offset = 0;          // absolute file offset of the data
  uint64_t bytes = 0;
  int layer = -1;  // N of "blk.N." or -1 for input/output tensors
};

struct TypeCount {
  std::string type;
  uint64_t tensors = 0;
  uint64_t elements = 0;
  uint64_t bytes = 0;
};

struct ModelInfo {
  std::string path;
  uint64_t file_size = 0;
  uint32_t gguf_version = 0;
  std::string architecture;  // general.architecture
  std::string name;          // general.name, "" when absent
  uint64_t n_params = 0;
  uint64_t weight_bytes = 0;  // sum of tensor data bytes
  uint32_t n_layer = 0;
  uint32_t n_embd = 0;
  uint32_t n_ff = 0;
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t n_ctx_train = 0;
  std::string vocab_type;  // tokenizer.ggml.model ("llama", "gpt2", ...)
  uint32_t n_vocab = 0;
  bool has_chat_template = false;
  std::string dominant_type;              // type holding the most weight bytes among 2-D tensors
  std::vector<TypeCount> type_histogram;  // sorted by bytes, largest first
  std::vector<TensorInfo> tensors;
  std::optional<std::string> sha256;  // hex, when requested
};

struct InspectOptions {
  bool hash = true;  // stream the whole file through SHA-256
};

// Reads and validates a GGUF file's header, key-value pairs and tensor table, and checks that
// every tensor's data lies inside the file, and checks the hyperparameters llama.cpp would abort
// on or misread (block count, heads, widths, context, experts, special tokens; see
// model/hparams_check.h). Errors name the file and the problem (missing, a directory, not a
// GGUF, truncated, corrupt table, data past the end, unsupported architecture, the key and
// value of a bad hyperparameter).
Result<ModelInfo> read_model_info(const std::string& path, const InspectOptions& options = {});

// True when the ggml type name is a float type that quantize:* strategies can convert from.
bool is_float_type(const std::string& type);

}  // namespace clinbench
