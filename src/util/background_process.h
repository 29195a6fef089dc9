// A process that runs beside this one (an inference server for tests and benchmarks): started
// with its output in a log file, dying with its parent (PR_SET_PDEATHSIG), and killed and
// reaped when the handle goes, so a failing test never leaves it behind. PR_SET_PDEATHSIG
// follows the thread that forked: start it from a thread that outlives it.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "clinbench/error.h"

namespace clinbench {

class BackgroundProcess {
 public:
  // argv[0] is the executable's path; stdout and stderr go to log_path.
  static Result<BackgroundProcess> start(const std::vector<std::string>& argv,
                                         const std::string& log_path);
  BackgroundProcess() = default;
  BackgroundProcess(BackgroundProcess&& other) noexcept;
  BackgroundProcess& operator=(BackgroundProcess&& other) noexcept;
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;
  ~BackgroundProcess();  // stop()

  pid_t pid() const { return pid_; }
  // True while the process has not exited (reaps it when it has).
  bool running();
  // SIGKILL and wait; nothing when not running.
  void stop();
  const std::string& log_path() const { return log_path_; }

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
Result<int> free_local_port();

// Polls GET url until it answers 200, the process exits, or timeout_s passes; the error says
// which (with the end of the process's log).
Result<void> wait_until_ready(const std::string& origin, const std::string& path,
                              BackgroundProcess& process, double timeout_s);

// The same for a server that speaks plain TCP (ggml-rpc-server): polls until 127.0.0.1:port
// accepts a connection.
Result<void> wait_until_accepting(int port, BackgroundProcess& process, double timeout_s);

}  // namespace clinbench
