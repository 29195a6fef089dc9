#include "model/backend_init.h"

#include <llama.h>

#include <cstdlib>
#include <mutex>

#include "model/llama_log.h"

namespace clinbench {

ggml_backend_dev_t accelerator_device() {
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    const auto t = ggml_backend_dev_type(dev);
    if (t == GGML_BACKEND_DEVICE_TYPE_GPU || t == GGML_BACKEND_DEVICE_TYPE_IGPU) return dev;
  }
  return nullptr;
}

void place_layers(llama_model_params& mp, int n_gpu_layers) {
  // llama.cpp copies the list when the model is built; the array only has to outlive the call.
  thread_local ggml_backend_dev_t devices[2] = {nullptr, nullptr};
  devices[0] = n_gpu_layers != 0 ? accelerator_device() : nullptr;
  mp.devices = devices;  // {nullptr}: no device but the CPU
  mp.n_gpu_layers = devices[0] ? n_gpu_layers : 0;
}

void ensure_llama_backend() {
  static std::once_flag once;
  std::call_once(once, [] {
    int verbosity = 0;
    if (const char* v = std::getenv("CLINBENCH_LLAMA_LOG")) verbosity = std::atoi(v);
    install_llama_logger(verbosity);
    llama_backend_init();
  });
}

}  // namespace clinbench
