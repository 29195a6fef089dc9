// Spawning a worker process with limits, and collecting how it ended.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clinbench/error.h"

namespace clinbench {

struct SpawnOptions {
  std::vector<std::string> argv;                // argv[0] is the executable path
  std::optional<uint64_t> address_space_limit;  // RLIMIT_AS, bytes
  // The supervisor reads the child's anonymous and shared resident memory (RssAnon + RssShmem
  // of /proc/PID/status) every few milliseconds and kills it (SIGKILL) once it is over this.
  // File-backed pages (mmap'd weights, which the kernel can evict and read again) do not count.
  std::optional<uint64_t> resident_limit;
  std::string stderr_path;                               // child's stderr (and stdout) go here
  std::vector<std::pair<std::string, std::string>> env;  // added to the environment
  // When set, each complete line the child writes to fd 3 is passed here as it arrives (without
  // the newline) instead of being collected in ChildResult::result. Returning false stops the
  // child: it is killed (SIGKILL) and the rest of what it writes is dropped.
  std::function<bool(std::string_view)> on_line;
};

struct ChildResult {
  std::optional<int> exit_code;
  std::optional<int> signal;
  uint64_t peak_rss_bytes = 0;  // ru_maxrss of the child
  std::string result;           // what the child wrote to fd 3
  double wall_ms = 0;
  // Killed for going over resident_limit, and the resident memory seen then.
  bool over_resident_limit = false;
  uint64_t resident_bytes_at_kill = 0;
  bool stopped = false;  // killed because on_line returned false
};

// Runs the child to completion. The child gets fd 3 as a pipe for its result, no core dumps,
// and the address-space limit. Errors only when the child cannot be started.
Result<ChildResult> run_child(const SpawnOptions& options);

// What every clinbench child process (worker, planner) gets in its environment: ggml's abort
// handler without its gdb backtrace (GGML_NO_BACKTRACE), and in a sanitizer build ASan options
// that let a crash end the child by its signal, as in a normal build, instead of an exit code.
std::vector<std::pair<std::string, std::string>> child_process_env();

// "SIGSEGV", "SIGKILL", ...; "signal N" for one without a name.
std::string signal_name(int sig);

// Path of the running executable (/proc/self/exe).
std::string self_executable();

// Last `max_lines` lines (at most max_bytes) of a text file.
std::string tail_file(const std::string& path, size_t max_lines = 20, size_t max_bytes = 4096);

}  // namespace clinbench
