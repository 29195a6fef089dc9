#include "clinbench/bandwidth.h"

#include <fmt/format.h>
#include <ggml-backend.h>
#include <ggml.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "clinbench/rpc.h"
#include "clinbench/units.h"
#include "model/backend_init.h"
#include "util/process_memory.h"

namespace clinbench {

namespace {

constexpr int64_t kRow = 4096;  // floats per matrix row (a 4096-wide model's rows)

struct BackendFree {
  void operator()(ggml_backend_t b) const { ggml_backend_free(b); }
};
struct BufferFree {
  void operator()(ggml_backend_buffer_t b) const { ggml_backend_buffer_free(b); }
};
struct ContextFree {
  void operator()(ggml_context* c) const { ggml_free(c); }
};

void set_cpu_threads(ggml_backend_dev_t dev, ggml_backend_t backend, int threads) {
  ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
  auto set = reinterpret_cast<ggml_backend_set_n_threads_t>(
      ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads"));
  if (set != nullptr) set(backend, threads);
}

}  // namespace

double Bandwidth::best() const {
  return bytes_per_s.empty() ? 0 : *std::max_element(bytes_per_s.begin(), bytes_per_s.end());
}

double Bandwidth::median() const {
  if (bytes_per_s.empty()) return 0;
  std::vector<double> v = bytes_per_s;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

Result<Bandwidth> measure_bandwidth(const BandwidthOptions& o) {
  if (o.bytes < (1ull << 20)) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("bandwidth: a matrix of {} is too small to tell memory from "
                                  "cache (at least 1 MiB)",
                                  format_bytes(o.bytes)));
  }
  if (o.reps < 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("bandwidth: {} timed runs (at least 1)", o.reps));
  }
  ensure_llama_backend();
  if (auto rpc = ensure_rpc_devices(); !rpc) return std::unexpected(rpc.error());
  ggml_backend_dev_t dev =
      o.accelerator ? accelerator_device() : ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
  if (dev == nullptr) {
    return make_error(ErrorCode::kNotFound,
                      o.accelerator ? "bandwidth: no accelerator (no GPU, no RPC server given)"
                                    : "bandwidth: llama.cpp has no CPU backend");
  }
  Bandwidth bw;
  bw.device = ggml_backend_dev_name(dev);
  bw.description = ggml_backend_dev_description(dev);
  const auto where = [&] { return fmt::format("bandwidth on {}", bw.device); };
  std::unique_ptr<ggml_backend, BackendFree> backend(ggml_backend_dev_init(dev, nullptr));
  if (!backend) return make_error(ErrorCode::kInternal, where() + ": the device did not start");
  // The host's pages are committed when first touched (the clear below), not when allocated: a
  // matrix beyond what the host has would be the kernel's to stop, not an error.
  if (const uint64_t avail = available_host_memory_bytes();
      !o.accelerator && avail > 0 && o.bytes > avail / 2) {
    return make_error(ErrorCode::kResource,
                      fmt::format("{}: a {} matrix is more than half the host's available memory "
                                  "({})",
                                  where(), format_bytes(o.bytes), format_bytes(avail)));
  }
  if (!o.accelerator) {
    bw.threads = o.threads > 0
                     ? o.threads
                     : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    set_cpu_threads(dev, backend.get(), bw.threads);
  }
  const ggml_init_params params{ggml_tensor_overhead() * 4 + ggml_graph_overhead(), nullptr, true};
  std::unique_ptr<ggml_context, ContextFree> ctx(ggml_init(params));
  const int64_t rows = std::max<int64_t>(1, static_cast<int64_t>(o.bytes / (kRow * 4)));
  ggml_tensor* a = ggml_new_tensor_2d(ctx.get(), GGML_TYPE_F32, kRow, rows);
  ggml_tensor* x = ggml_new_tensor_2d(ctx.get(), GGML_TYPE_F32, kRow, 1);
  ggml_tensor* y = ggml_mul_mat(ctx.get(), a, x);
  ggml_cgraph* graph = ggml_new_graph(ctx.get());
  ggml_build_forward_expand(graph, y);
  bw.bytes = ggml_nbytes(a);
  std::unique_ptr<ggml_backend_buffer, BufferFree> buffer(
      ggml_backend_alloc_ctx_tensors(ctx.get(), backend.get()));
  if (!buffer) {
    return make_error(ErrorCode::kResource, fmt::format("{}: cannot allocate a {} matrix there",
                                                        where(), format_bytes(bw.bytes)));
  }
  ggml_backend_buffer_clear(buffer.get(), 0);  // zeros: the product's time does not depend on them
  // The product's result read back in each run: a device's compute may return before it ends
  // (an RPC device's does), its read does not.
  std::vector<float> result(static_cast<size_t>(ggml_nelements(y)));
  for (int run = 0; run <= o.reps; ++run) {
    const auto t0 = std::chrono::steady_clock::now();
    if (ggml_backend_graph_compute(backend.get(), graph) != GGML_STATUS_SUCCESS) {
      return make_error(ErrorCode::kInternal, where() + ": the matrix-vector product failed");
    }
    ggml_backend_tensor_get(y, result.data(), 0, ggml_nbytes(y));
    const std::chrono::duration<double> s = std::chrono::steady_clock::now() - t0;
    if (run > 0 && s.count() > 0)
      bw.bytes_per_s.push_back(static_cast<double>(bw.bytes) / s.count());
  }
  return bw;
}

}  // namespace clinbench
