#include "model/simulate.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <ggml-backend.h>
#include <gguf.h>
#include <llama-cpp.h>
#include <llama-ext.h>
#include <llama.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <utility>

#include "model/backend_init.h"
#include "model/ggml_types.h"
#include "model/llama_log.h"

namespace clinbench {

namespace {

// Leaves the vocabulary out of `g`; false when it must stay.
bool drop_vocabulary(gguf_context* g) {
  const int64_t tokens = gguf_find_key(g, "tokenizer.ggml.tokens");
  if (tokens < 0 || gguf_get_kv_type(g, tokens) != GGUF_TYPE_ARRAY) return false;
  const auto n_tokens = static_cast<uint32_t>(gguf_get_arr_n(g, tokens));
  // "no_vocab" takes its size from <arch>.vocab_size. A file that declares a size other than
  // its list's keeps its vocabulary: llama.cpp uses one or the other depending on the
  // architecture.
  const std::string size_key = gguf_string(g, "general.architecture") + ".vocab_size";
  if (gguf_find_key(g, size_key.c_str()) >= 0) {
    if (gguf_uint(g, size_key) != n_tokens) return false;
  } else {
    gguf_set_val_u32(g, size_key.c_str(), n_tokens);
  }
  for (const char* key : {"tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                          "tokenizer.ggml.token_type", "tokenizer.ggml.merges"}) {
    gguf_remove_key(g, key);
  }
  gguf_set_val_str(g, "tokenizer.ggml.model", "no_vocab");
  return true;
}

// Builds a model with `build` (no_alloc), then a context; `name` is the file errors name.
Result<Simulated> simulate_built(
    const std::string& name, const SimulationShape& shape,
    const std::function<llama_model*(const llama_model_params&)>& build) {
  llama_model_params mp = llama_model_default_params();
  mp.no_alloc = true;
  mp.load_mode = LLAMA_LOAD_MODE_NONE;
  place_layers(mp, shape.n_gpu_layers);
  LogCapture capture;
  llama_model_ptr model(build(mp));
  if (!model) {
    return make_error(ErrorCode::kCorrupt, fmt::format("{}: llama.cpp cannot build the model: {}",
                                                       name, capture.errors()));
  }
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = shape.n_ctx * shape.n_seq;
  cp.n_batch = shape.n_batch;
  cp.n_ubatch = std::min<uint32_t>(shape.n_batch, 512);
  cp.n_seq_max = shape.n_seq;
  cp.kv_unified = shape.kv_unified;
  llama_context_ptr ctx(llama_init_from_model(model.get(), cp));
  if (!ctx) {
    return make_error(ErrorCode::kInternal, fmt::format("{}: llama.cpp cannot build a context: {}",
                                                        name, capture.errors()));
  }
  return memory_breakdown(ctx.get());
}

}  // namespace

bool in_host_memory(ggml_backend_buffer_type_t buft) {
  if (ggml_backend_buft_is_host(buft)) return true;
  ggml_backend_dev_t dev = ggml_backend_buft_get_device(buft);
  if (dev == nullptr) return true;
  const auto type = ggml_backend_dev_type(dev);
  return type != GGML_BACKEND_DEVICE_TYPE_GPU && type != GGML_BACKEND_DEVICE_TYPE_IGPU;
}

Result<PlanningFile> PlanningFile::create(const std::string& path, bool keep_vocabulary) {
  auto file = open_gguf(path);
  if (!file) return std::unexpected(file.error());
  PlanningFile out;
  out.source_ = path;
  out.path_ = path;  // the file itself stands in until a copy without the vocabulary exists
  out.has_vocabulary_ = true;
  gguf_context* g = file->gguf.get();
  if (keep_vocabulary || !drop_vocabulary(g)) {
    out.meta_ = std::move(*file);
    return out;
  }
  std::vector<char> meta(gguf_get_meta_size(g));
  gguf_get_meta_data(g, meta.data());
  const uint64_t data_bytes = file->file_size - file->data_offset;
  out.meta_ = std::move(*file);
  // Where no in-memory file can be made (a sandbox without memfd, a file-size limit), the file
  // itself stays: slower, the same bytes.
  const int fd = ::memfd_create("clinbench-plan", MFD_CLOEXEC);
  if (fd < 0) return out;
  bool written = true;
  for (size_t done = 0; written && done < meta.size();) {
    const ssize_t n = ::write(fd, meta.data() + done, meta.size() - done);
    written = n > 0;
    if (written) done += static_cast<size_t>(n);
  }
  // The tensor data is a hole: llama.cpp checks its extent but reads none of it in no_alloc.
  if (!written || ::ftruncate(fd, static_cast<off_t>(meta.size() + data_bytes)) != 0) {
    ::close(fd);
    return out;
  }
  out.fd_ = fd;
  out.path_ = fmt::format("/proc/self/fd/{}", fd);
  out.has_vocabulary_ = false;
  return out;
}

PlanningFile::PlanningFile(PlanningFile&& other) noexcept
    : source_(std::move(other.source_)),
      meta_(std::move(other.meta_)),
      fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      has_vocabulary_(other.has_vocabulary_) {}

PlanningFile::~PlanningFile() {
  if (fd_ >= 0) ::close(fd_);
}

Result<Simulated> PlanningFile::simulate(const SimulationShape& shape) const {
  return simulate_built(source_, shape, [&](const llama_model_params& mp) {
    return llama_model_load_from_file(path_.c_str(), mp);
  });
}

Result<Simulated> PlanningFile::simulate_with_types(const std::vector<TensorChoice>& choices,
                                                    const SimulationShape& shape) {
  gguf_context* g = meta_.gguf.get();
  for (const auto& c : choices) {
    const auto type = type_from_name(c.type);
    if (!type || gguf_find_tensor(g, c.name.c_str()) < 0) {
      return make_error(ErrorCode::kInternal,
                        fmt::format("{}: cannot plan tensor '{}' as {}", source_, c.name, c.type));
    }
    gguf_set_tensor_type(g, c.name.c_str(), *type);
  }
  return simulate_built(source_, shape, [&](const llama_model_params& mp) {
    return llama_model_init_from_user(g, nullptr, nullptr, mp);
  });
}

Result<Simulated> simulate(const std::string& path, const SimulationShape& shape) {
  return simulate_built(path, shape, [&](const llama_model_params& mp) {
    return llama_model_load_from_file(path.c_str(), mp);
  });
}

Simulated memory_breakdown(llama_context* ctx) {
  Simulated s;
  for (const auto& [buft, mb] : llama_get_memory_breakdown(ctx)) {
    Bytes& b = in_host_memory(buft) ? s.host : s.device;
    b.weights += mb.model;
    b.kv += mb.context;
    b.compute += mb.compute;
  }
  return s;
}

}  // namespace clinbench
