// Routes llama.cpp and ggml log output. By default only warnings and errors reach stderr; a
// LogCapture in scope also keeps the error lines, so a failed llama.cpp call can be turned into
// an Error that says why (llama.cpp reports its reasons only through the log).
#pragma once

#include <string>
#include <vector>

namespace clinbench {

// 0: errors only (default), 1: warnings, 2: info, 3: debug. Idempotent; call before llama.cpp.
void install_llama_logger(int verbosity);

// Keeps error (and warning) lines logged while it lives. Not reentrant: one at a time.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // The captured error lines joined by "; ", function-name prefixes removed; "" when none.
  std::string errors() const;
  std::vector<std::string> lines() const;
};

}  // namespace clinbench
