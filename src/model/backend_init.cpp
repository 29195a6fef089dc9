#include "model/backend_init.h"

#include <llama.h>

#include <cstdlib>
#include <mutex>

#include "model/llama_log.h"

namespace clinbench {

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
