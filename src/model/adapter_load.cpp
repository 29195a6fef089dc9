#include "model/adapter_load.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <ggml-alloc.h>
#include <ggml-backend.h>
#include <ggml-cpp.h>
#include <gguf.h>
#include <llama-adapter.h>
#include <llama.h>

#include <cstdlib>
#include <map>

#include "model/backend_init.h"
#include "model/gguf_file.h"
#include "model/llama_log.h"
#include "model/simulate.h"

namespace clinbench {

namespace {

// Whether llama.cpp puts the base tensor `name` on the accelerator with `on_device` of n_layer
// blocks there (llama_model::load_tensors: the last blocks, the output head when all are, the
// token embeddings never).
bool base_on_device(const std::string& name, const ModelInfo& base, int on_device) {
  if (on_device <= 0) return false;
  const auto n_layer = static_cast<int>(base.n_layer);
  if (name.rfind("blk.", 0) == 0) {
    const int il = std::atoi(name.c_str() + 4);
    return il >= n_layer - on_device;
  }
  if (name.rfind("token_embd", 0) == 0) return false;
  return on_device >= n_layer;
}

}  // namespace

Result<AdapterBytes> plan_adapter_bytes(const std::vector<AdapterSpec>& adapters,
                                        const ModelInfo& base, int on_device) {
  AdapterBytes out;
  ggml_backend_dev_t acc = on_device > 0 ? accelerator_device() : nullptr;
  ggml_backend_buffer_type_t host_buft = ggml_backend_cpu_buffer_type();
  ggml_backend_buffer_type_t dev_buft = acc ? ggml_backend_dev_buffer_type(acc) : nullptr;
  for (const auto& spec : adapters) {
    auto file = open_gguf(spec.path);
    if (!file) return std::unexpected(file.error().with_context("adapter"));
    const int64_t n = gguf_get_n_tensors(file->gguf.get());
    // One context per buffer type, as llama.cpp makes them; sized as it allocates them.
    std::map<ggml_backend_buffer_type_t, ggml_context_ptr> ctxs;
    for (int64_t i = 0; i < n; ++i) {
      const std::string name = gguf_get_tensor_name(file->gguf.get(), i);
      const bool half = name.ends_with(".lora_a") || name.ends_with(".lora_b");
      if (!half) continue;
      const std::string target = name.substr(0, name.size() - 7);
      ggml_backend_buffer_type_t buft =
          dev_buft && base_on_device(target, base, on_device) ? dev_buft : host_buft;
      auto& ctx = ctxs[buft];
      if (!ctx) {
        ggml_init_params ip{static_cast<size_t>(n) * ggml_tensor_overhead(), nullptr, true};
        ctx.reset(ggml_init(ip));
      }
      ggml_tensor* t = ggml_dup_tensor(ctx.get(), ggml_get_tensor(file->meta.get(), name.c_str()));
      ggml_set_name(t, name.c_str());
    }
    for (const auto& [buft, ctx] : ctxs) {
      const uint64_t bytes = ggml_backend_alloc_ctx_tensors_from_buft_size(ctx.get(), buft);
      (in_host_memory(buft) ? out.host : out.device) += bytes;
    }
  }
  return out;
}

Result<LoadedAdapters> LoadedAdapters::load(llama_model* model,
                                            const std::vector<AdapterSpec>& specs) {
  LoadedAdapters out;
  for (const auto& s : specs) {
    LogCapture capture;
    llama_adapter_lora* a = llama_adapter_lora_init(model, s.path.c_str());
    if (a == nullptr) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("adapter {}: llama.cpp cannot apply it to the model: {}",
                                    s.path, capture.errors()));
    }
    out.adapters_.push_back(a);
    out.scales_.push_back(s.scale);
    out.paths_.push_back(s.path);
  }
  return out;
}

Result<void> LoadedAdapters::apply(llama_context* ctx, int only) {
  std::vector<llama_adapter_lora*> set = adapters_;
  std::vector<float> scales = scales_;
  if (only >= 0) {
    set = {adapters_.at(static_cast<size_t>(only))};
    scales = {scales_.at(static_cast<size_t>(only))};
  }
  if (llama_set_adapters_lora(ctx, set.data(), set.size(), scales.data()) != 0) {
    return make_error(ErrorCode::kInternal,
                      fmt::format("llama.cpp could not set the adapters {} on the context",
                                  fmt::join(paths_, ", ")));
  }
  return {};
}

Result<void> LoadedAdapters::none(llama_context* ctx) {
  if (llama_set_adapters_lora(ctx, nullptr, 0, nullptr) != 0) {
    return make_error(ErrorCode::kInternal, "llama.cpp could not clear the adapters");
  }
  return {};
}

AdapterBytes LoadedAdapters::allocated() const {
  AdapterBytes out;
  // llama.cpp keeps each adapter's buffers in the adapter (llama-adapter.h); no public call
  // reports their size.
  for (const llama_adapter_lora* a : adapters_) {
    for (const auto& buf : a->bufs) {
      const uint64_t bytes = ggml_backend_buffer_get_size(buf.get());
      (in_host_memory(ggml_backend_buffer_get_type(buf.get())) ? out.host : out.device) += bytes;
    }
  }
  return out;
}

}  // namespace clinbench
