// RAII for a GGUF file's metadata (gguf_context plus the ggml context holding tensor shapes),
// opened with validation so that every later reader can trust offsets and sizes.
#pragma once

#include <memory>
#include <string>

#include "clinbench/error.h"

struct gguf_context;
struct ggml_context;

namespace clinbench {

struct GgufDeleter {
  void operator()(gguf_context* c) const;
};
struct GgmlCtxDeleter {
  void operator()(ggml_context* c) const;
};

struct GgufFile {
  std::unique_ptr<gguf_context, GgufDeleter> gguf;
  std::unique_ptr<ggml_context, GgmlCtxDeleter> meta;  // tensors without data (shapes, types)
  uint64_t file_size = 0;
  uint64_t data_offset = 0;  // absolute offset of the tensor data section
};

// Opens a GGUF's metadata: checks the path, the magic, parses header, key-values and tensor
// table, and checks every tensor's data range lies within the file.
Result<GgufFile> open_gguf(const std::string& path);

// Reads a string / integer key; empty / nullopt-like defaults when absent or of another type.
std::string gguf_string(const gguf_context* ctx, const std::string& key);
uint64_t gguf_uint(const gguf_context* ctx, const std::string& key, uint64_t fallback = 0);

}  // namespace clinbench
