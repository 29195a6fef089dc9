#include "clinbench/model_info.h"

#include <fmt/format.h>
#include <ggml.h>
#include <gguf.h>
#include <llama-arch.h>

#include <algorithm>
#include <map>

#include "clinbench/hash.h"
#include "model/gguf_file.h"
#include "model/hparams_check.h"

namespace clinbench {

bool is_float_type(const std::string& type) {
  return type == "f32" || type == "f16" || type == "bf16";
}

Result<ModelInfo> read_model_info(const std::string& path, const InspectOptions& options) {
  auto file = open_gguf(path);
  if (!file) return std::unexpected(file.error());
  const gguf_context* g = file->gguf.get();

  ModelInfo info;
  info.path = path;
  info.file_size = file->file_size;
  info.gguf_version = gguf_get_version(g);
  info.architecture = gguf_string(g, "general.architecture");
  if (info.architecture.empty()) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("{}: GGUF has no general.architecture key", path));
  }
  if (llm_arch_from_string(info.architecture) == LLM_ARCH_UNKNOWN) {
    return make_error(ErrorCode::kUnsupported,
                      fmt::format("{}: unsupported architecture '{}' (not known to llama.cpp {})",
                                  path, info.architecture, "80fb11a"));
  }
  info.name = gguf_string(g, "general.name");
  const std::string a = info.architecture + ".";
  info.n_layer = static_cast<uint32_t>(gguf_uint(g, a + "block_count"));
  info.n_embd = static_cast<uint32_t>(gguf_uint(g, a + "embedding_length"));
  info.n_ff = static_cast<uint32_t>(gguf_uint(g, a + "feed_forward_length"));
  info.n_head = static_cast<uint32_t>(gguf_uint(g, a + "attention.head_count"));
  info.n_head_kv = static_cast<uint32_t>(gguf_uint(g, a + "attention.head_count_kv", info.n_head));
  info.n_ctx_train = static_cast<uint32_t>(gguf_uint(g, a + "context_length"));
  info.vocab_type = gguf_string(g, "tokenizer.ggml.model");
  {
    const int64_t id = gguf_find_key(g, "tokenizer.ggml.tokens");
    if (id >= 0 && gguf_get_kv_type(g, id) == GGUF_TYPE_ARRAY) {
      info.n_vocab = static_cast<uint32_t>(gguf_get_arr_n(g, id));
    }
  }
  info.has_chat_template = !gguf_string(g, "tokenizer.chat_template").empty();

  std::map<std::string, TypeCount> hist;
  std::map<std::string, uint64_t> matrix_bytes;
  const int64_t n = gguf_get_n_tensors(g);
  info.tensors.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    TensorInfo t;
    t.name = gguf_get_tensor_name(g, i);
    t.type = ggml_type_name(gguf_get_tensor_type(g, i));
    const int64_t* ne = gguf_get_tensor_ne(g, i);
    for (int d = 0; d < 4; ++d) t.ne[d] = ne[d];
    t.offset = file->data_offset + gguf_get_tensor_offset(g, i);
    t.bytes = gguf_get_tensor_size(g, i);
    if (t.name.rfind("blk.", 0) == 0) {
      t.layer = std::atoi(t.name.c_str() + 4);
    }
    const uint64_t elems = static_cast<uint64_t>(ne[0] * ne[1] * ne[2] * ne[3]);
    info.n_params += elems;
    info.weight_bytes += t.bytes;
    auto& h = hist[t.type];
    h.type = t.type;
    h.tensors++;
    h.elements += elems;
    h.bytes += t.bytes;
    if (ne[1] > 1) matrix_bytes[t.type] += t.bytes;
    info.tensors.push_back(std::move(t));
  }
  for (auto& [k, v] : hist) info.type_histogram.push_back(v);
  std::sort(info.type_histogram.begin(), info.type_histogram.end(),
            [](const TypeCount& x, const TypeCount& y) { return x.bytes > y.bytes; });
  uint64_t best = 0;
  for (const auto& [type, bytes] : matrix_bytes) {
    if (bytes > best) {
      best = bytes;
      info.dominant_type = type;
    }
  }
  // Before anything hands the file to llama.cpp, which aborts on some of these values.
  if (auto checked = check_hparams(g, info); !checked) return std::unexpected(checked.error());
  if (options.hash) {
    auto h = sha256_file(path);
    if (!h) return std::unexpected(h.error());
    info.sha256 = *h;
  }
  return info;
}

}  // namespace clinbench
