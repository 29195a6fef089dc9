#include "model/gguf_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <ggml.h>
#include <gguf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "model/llama_log.h"

namespace clinbench {

void GgufDeleter::operator()(gguf_context* c) const { gguf_free(c); }
void GgmlCtxDeleter::operator()(ggml_context* c) const { ggml_free(c); }

Result<GgufFile> open_gguf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return make_error(
        errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
        fmt::format("{}: {}", path, errno == ENOENT ? "no such file" : std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("{}: is a directory, expected a .gguf model file", path));
  }
  if (!S_ISREG(st.st_mode)) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("{}: not a regular file", path));
  }
  {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return make_error(ErrorCode::kIo,
                        fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
    }
    char magic[4] = {0, 0, 0, 0};
    ssize_t n = ::pread(fd, magic, 4, 0);
    ::close(fd);
    if (n < 4) {
      return make_error(ErrorCode::kCorrupt,
                        fmt::format("{}: not a GGUF file: only {} bytes", path, st.st_size));
    }
    if (std::memcmp(magic, "GGUF", 4) != 0) {
      std::string shown;
      for (char c : magic) {
        shown += (c >= 32 && c < 127) ? fmt::format("{}", c)
                                      : fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
      }
      return make_error(
          ErrorCode::kCorrupt,
          fmt::format("{}: not a GGUF file (magic is '{}', expected 'GGUF')", path, shown));
    }
  }

  GgufFile out;
  out.file_size = static_cast<uint64_t>(st.st_size);
  ggml_context* meta = nullptr;
  gguf_init_params params{/*no_alloc=*/true, /*ctx=*/&meta};
  {
    LogCapture capture;
    out.gguf.reset(gguf_init_from_file(path.c_str(), params));
    if (!out.gguf) {
      std::string why = capture.errors();
      return make_error(ErrorCode::kCorrupt,
                        fmt::format("{}: corrupt or truncated GGUF header/tensor table{}{}", path,
                                    why.empty() ? "" : ": ", why));
    }
  }
  out.meta.reset(meta);
  out.data_offset = gguf_get_data_offset(out.gguf.get());
  const int64_t n = gguf_get_n_tensors(out.gguf.get());
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t off = out.data_offset + gguf_get_tensor_offset(out.gguf.get(), i);
    const uint64_t size = gguf_get_tensor_size(out.gguf.get(), i);
    if (off > out.file_size || size > out.file_size - off) {
      return make_error(
          ErrorCode::kCorrupt,
          fmt::format("{}: tensor '{}' data [{}, {}) lies past the end of the file ({} bytes): "
                      "truncated file?",
                      path, gguf_get_tensor_name(out.gguf.get(), i), off, off + size,
                      out.file_size));
    }
  }
  return out;
}

std::string gguf_string(const gguf_context* ctx, const std::string& key) {
  const int64_t id = gguf_find_key(ctx, key.c_str());
  if (id < 0 || gguf_get_kv_type(ctx, id) != GGUF_TYPE_STRING) return "";
  return gguf_get_val_str(ctx, id);
}

uint64_t gguf_uint(const gguf_context* ctx, const std::string& key, uint64_t fallback) {
  const int64_t id = gguf_find_key(ctx, key.c_str());
  if (id < 0) return fallback;
  switch (gguf_get_kv_type(ctx, id)) {
    case GGUF_TYPE_UINT8:
      return gguf_get_val_u8(ctx, id);
    case GGUF_TYPE_UINT16:
      return gguf_get_val_u16(ctx, id);
    case GGUF_TYPE_UINT32:
      return gguf_get_val_u32(ctx, id);
    case GGUF_TYPE_UINT64:
      return gguf_get_val_u64(ctx, id);
    case GGUF_TYPE_INT8:
      return static_cast<uint64_t>(std::max<int8_t>(0, gguf_get_val_i8(ctx, id)));
    case GGUF_TYPE_INT16:
      return static_cast<uint64_t>(std::max<int16_t>(0, gguf_get_val_i16(ctx, id)));
    case GGUF_TYPE_INT32:
      return static_cast<uint64_t>(std::max<int32_t>(0, gguf_get_val_i32(ctx, id)));
    case GGUF_TYPE_INT64:
      return static_cast<uint64_t>(std::max<int64_t>(0, gguf_get_val_i64(ctx, id)));
    case GGUF_TYPE_ARRAY: {
      // Per-layer arrays (e.g. head_count_kv): report the first element.
      if (gguf_get_arr_n(ctx, id) == 0) return fallback;
      const gguf_type t = gguf_get_arr_type(ctx, id);
      if (t == GGUF_TYPE_UINT32) return static_cast<const uint32_t*>(gguf_get_arr_data(ctx, id))[0];
      if (t == GGUF_TYPE_INT32) {
        const int32_t v = static_cast<const int32_t*>(gguf_get_arr_data(ctx, id))[0];
        return v < 0 ? fallback : static_cast<uint64_t>(v);
      }
      return fallback;
    }
    default:
      return fallback;
  }
}

}  // namespace clinbench
