// The run directory's lock: an exclusive flock(2) on run_dir/lock, whose content is the holder's
// PID and a newline. flock locks belong to the open file description, so the lock conflicts
// with any other acquire, in this process or another, and the kernel drops it when the holder
// closes the descriptor or dies (SIGKILL included). The PID is only informative: a stale PID
// left by a dead holder is overwritten by the next one.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>

#include "clinbench/error.h"

namespace clinbench::store {

class RunLock {
 public:
  // Takes the lock without waiting. kResource when another holder has it; the message names
  // the directory and the holder's PID. REQUIRES: run_dir exists.
  static Result<RunLock> acquire(const std::filesystem::path& run_dir);

  RunLock(RunLock&& other) noexcept;
  RunLock& operator=(RunLock&& other) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  ~RunLock();

 private:
  explicit RunLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// The PID written in a lock file, nullopt when it holds none.
std::optional<pid_t> read_lock_pid(int fd);

// Whether a RunStore holds run_dir's lock now, and its PID (0 when the kernel does not say),
// read from /proc/locks: no lock is taken, so a run starting at that moment is never refused.
// nullopt when nobody holds it or there is no lock file.
std::optional<pid_t> lock_holder(const std::filesystem::path& run_dir);

}  // namespace clinbench::store
