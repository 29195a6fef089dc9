#include "model/quantize_load.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <ggml-backend.h>
#include <ggml.h>
#include <gguf.h>
#include <llama.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <thread>

#include "model/ggml_types.h"
#include "model/gguf_file.h"
#include "model/llama_log.h"

namespace clinbench {

namespace {

// f32 staging per chunk (the f16 read and the quantized rows add half and a quarter of it):
// 1 MiB per thread, at least 4 MiB. The staging counts in the peak RSS (a few percent of a 300M
// model's q4 weights on 2 threads); each chunk starts its threads, so chunks stay large enough
// for that to cost nothing next to quantizing them.
size_t chunk_bytes(int n_threads) {
  return std::max<size_t>(size_t{4} << 20, static_cast<size_t>(std::max(1, n_threads)) << 20);
}

struct StreamState {
  int fd = -1;
  std::map<std::string, const TensorInfo*> source;
  std::map<std::string, const TensorChoice*> choice;
  int n_threads = 1;
  std::string error;  // first failure; the callback cannot return one
  std::vector<char> raw;
  std::vector<float> f32;
  std::vector<char> out;
};

bool read_exact(int fd, void* buf, size_t n, uint64_t off) {
  char* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
    off += static_cast<uint64_t>(r);
  }
  return true;
}

void to_f32(ggml_type src, const void* in, float* out, int64_t n) {
  switch (src) {
    case GGML_TYPE_F32:
      std::memcpy(out, in, static_cast<size_t>(n) * sizeof(float));
      break;
    case GGML_TYPE_F16:
      ggml_fp16_to_fp32_row(static_cast<const ggml_fp16_t*>(in), out, n);
      break;
    case GGML_TYPE_BF16:
      ggml_bf16_to_fp32_row(static_cast<const ggml_bf16_t*>(in), out, n);
      break;
    default:
      break;
  }
}

void set_tensor(ggml_tensor* tensor, void* ud) {
  auto* st = static_cast<StreamState*>(ud);
  if (!st->error.empty()) return;
  const std::string name = ggml_get_name(tensor);
  auto it = st->source.find(name);
  if (it == st->source.end()) {
    st->error = fmt::format("llama.cpp asked for tensor '{}', which the file does not hold", name);
    return;
  }
  const TensorInfo& src = *it->second;
  const ggml_type src_type = type_from_name(src.type).value_or(GGML_TYPE_COUNT);
  const ggml_type dst_type = tensor->type;
  const int64_t n_per_row = src.ne[0];
  const int64_t n_rows = src.ne[1] * src.ne[2] * src.ne[3];
  if (ggml_nelements(tensor) != n_per_row * n_rows) {
    st->error = fmt::format("tensor '{}': shape mismatch between file and model", name);
    return;
  }
  const size_t src_row = ggml_row_size(src_type, n_per_row);
  const size_t dst_row = ggml_row_size(dst_type, n_per_row);
  const bool host = tensor->buffer && ggml_backend_buffer_is_host(tensor->buffer);

  // Same type: copy bytes in chunks.
  if (src_type == dst_type) {
    const int64_t rows_per_chunk =
        std::max<int64_t>(1, static_cast<int64_t>(chunk_bytes(st->n_threads) / src_row));
    for (int64_t r0 = 0; r0 < n_rows; r0 += rows_per_chunk) {
      const int64_t nr = std::min(rows_per_chunk, n_rows - r0);
      const size_t bytes = static_cast<size_t>(nr) * src_row;
      const size_t off = static_cast<size_t>(r0) * src_row;
      if (host) {
        if (!read_exact(st->fd, static_cast<char*>(tensor->data) + off, bytes, src.offset + off)) {
          st->error = fmt::format("tensor '{}': read failed", name);
          return;
        }
      } else {
        st->raw.resize(bytes);
        if (!read_exact(st->fd, st->raw.data(), bytes, src.offset + off)) {
          st->error = fmt::format("tensor '{}': read failed", name);
          return;
        }
        ggml_backend_tensor_set(tensor, st->raw.data(), off, bytes);
      }
    }
    return;
  }

  if (src_type != GGML_TYPE_F32 && src_type != GGML_TYPE_F16 && src_type != GGML_TYPE_BF16) {
    st->error = fmt::format("tensor '{}': cannot convert from {} to {}", name, src.type,
                            ggml_type_name(dst_type));
    return;
  }
  ggml_quantize_init(dst_type);
  const int64_t rows_per_chunk = std::max<int64_t>(
      1, static_cast<int64_t>(chunk_bytes(st->n_threads) / (n_per_row * sizeof(float))));
  for (int64_t r0 = 0; r0 < n_rows; r0 += rows_per_chunk) {
    const int64_t nr = std::min(rows_per_chunk, n_rows - r0);
    st->raw.resize(static_cast<size_t>(nr) * src_row);
    if (!read_exact(st->fd, st->raw.data(), st->raw.size(), src.offset + r0 * src_row)) {
      st->error = fmt::format("tensor '{}': read failed at row {}", name, r0);
      return;
    }
    st->f32.resize(static_cast<size_t>(nr * n_per_row));
    to_f32(src_type, st->raw.data(), st->f32.data(), nr * n_per_row);
    char* dst = nullptr;
    if (host) {
      dst = static_cast<char*>(tensor->data) + static_cast<size_t>(r0) * dst_row;
    } else {
      st->out.resize(static_cast<size_t>(nr) * dst_row);
      dst = st->out.data();
    }
    if (dst_type == GGML_TYPE_F32) {
      std::memcpy(dst, st->f32.data(), st->f32.size() * sizeof(float));
    } else if (dst_type == GGML_TYPE_F16) {
      ggml_fp32_to_fp16_row(st->f32.data(), reinterpret_cast<ggml_fp16_t*>(dst), nr * n_per_row);
    } else if (dst_type == GGML_TYPE_BF16) {
      ggml_fp32_to_bf16_row(st->f32.data(), reinterpret_cast<ggml_bf16_t*>(dst), nr * n_per_row);
    } else {
      // Rows split across threads; ggml_quantize_chunk is reentrant for disjoint rows.
      const int nt = static_cast<int>(std::min<int64_t>(st->n_threads, nr));
      auto work = [&](int t) {
        const int64_t a = nr * t / nt, b = nr * (t + 1) / nt;
        if (b > a) {
          ggml_quantize_chunk(dst_type, st->f32.data(), dst, a * n_per_row, b - a, n_per_row,
                              nullptr);
        }
      };
      std::vector<std::thread> threads;
      for (int t = 1; t < nt; ++t) threads.emplace_back(work, t);
      work(0);
      for (auto& th : threads) th.join();
    }
    if (!host) {
      ggml_backend_tensor_set(tensor, dst, static_cast<size_t>(r0) * dst_row,
                              static_cast<size_t>(nr) * dst_row);
    }
  }
}

}  // namespace

Result<llama_model*> load_quantized_model(const ModelInfo& model,
                                          const std::vector<TensorChoice>& choices,
                                          const llama_model_params& params, int n_threads) {
  auto file = open_gguf(model.path);
  if (!file) return std::unexpected(file.error());
  // The metadata llama.cpp builds the model from: the file's own, with the chosen types.
  for (const auto& c : choices) {
    if (c.type != c.source_type) {
      gguf_set_tensor_type(file->gguf.get(), c.name.c_str(),
                           type_from_name(c.type).value_or(GGML_TYPE_COUNT));
    }
  }
  StreamState st;
  st.n_threads = std::max(1, n_threads);
  for (const auto& t : model.tensors) st.source[t.name] = &t;
  for (const auto& c : choices) st.choice[c.name] = &c;
  st.fd = ::open(model.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (st.fd < 0) {
    return make_error(ErrorCode::kIo,
                      fmt::format("{}: cannot open: {}", model.path, std::strerror(errno)));
  }
  posix_fadvise(st.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  LogCapture capture;
  llama_model* m = llama_model_init_from_user(file->gguf.get(), set_tensor, &st, params);
  ::close(st.fd);
  if (m == nullptr) {
    return make_error(ErrorCode::kInternal,
                      fmt::format("{}: llama.cpp could not build the quantized model: {}",
                                  model.path, capture.errors()));
  }
  if (!st.error.empty()) {
    llama_model_free(m);
    return make_error(ErrorCode::kIo, fmt::format("{}: {}", model.path, st.error));
  }
  return m;
}

}  // namespace clinbench
