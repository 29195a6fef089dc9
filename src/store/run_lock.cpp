#include "store/run_lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

namespace clinbench::store {

std::optional<pid_t> read_lock_pid(int fd) {
  char buffer[32] = {};
  const ssize_t n = pread(fd, buffer, sizeof(buffer) - 1, 0);
  if (n <= 0) return std::nullopt;
  pid_t pid = 0;
  const auto [end, ec] = std::from_chars(buffer, buffer + n, pid);
  if (ec != std::errc() || end == buffer || pid <= 0) return std::nullopt;
  return pid;
}

Result<RunLock> RunLock::acquire(const std::filesystem::path& run_dir) {
  const std::string path = (run_dir / "lock").string();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return make_error(ErrorCode::kIo,
                      fmt::format("{}: cannot open the lock file: {}", path, std::strerror(errno)));
  }
  RunLock lock(fd);
  int rc;
  do {
    rc = flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (errno != EWOULDBLOCK) {
      return make_error(ErrorCode::kIo,
                        fmt::format("{}: cannot lock: {}", path, std::strerror(errno)));
    }
    // The holder writes its PID right after taking the lock; give it a moment to do so.
    std::optional<pid_t> holder = read_lock_pid(fd);
    for (int i = 0; i < 20 && !holder; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      holder = read_lock_pid(fd);
    }
    const std::string who =
        holder ? fmt::format("process {}", *holder) : std::string("another process");
    const std::string self = holder && *holder == getpid() ? " (this process)" : "";
    return make_error(ErrorCode::kResource,
                      fmt::format("run directory {} is in use by {}{} (lock file {}); wait for "
                                  "it to finish or choose another directory",
                                  run_dir.string(), who, self, path));
  }
  const std::string content = fmt::format("{}\n", getpid());
  if (ftruncate(fd, 0) != 0 ||
      pwrite(fd, content.data(), content.size(), 0) != static_cast<ssize_t>(content.size())) {
    return make_error(ErrorCode::kIo, fmt::format("{}: cannot write the holder's PID: {}", path,
                                                  std::strerror(errno)));
  }
  return lock;
}

RunLock::RunLock(RunLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

RunLock& RunLock::operator=(RunLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

RunLock::~RunLock() {
  // Closing the last descriptor of the open file description releases the flock. The PID stays
  // in the file; it is only read when the lock is contended.
  if (fd_ >= 0) ::close(fd_);
}

std::optional<pid_t> lock_holder(const std::filesystem::path& run_dir) {
  const std::string path = (run_dir / "lock").string();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  // "1: FLOCK  ADVISORY  WRITE 4242 fd:01:123456 0 EOF"; waiters have "->" after the id.
  const std::string dev_ino =
      fmt::format("{:02x}:{:02x}:{}", major(st.st_dev), minor(st.st_dev), st.st_ino);
  std::ifstream locks("/proc/locks");
  std::string line;
  while (std::getline(locks, line)) {
    std::istringstream in(line);
    std::string id, kind, mode, access, pid_text, where;
    in >> id >> kind;
    if (kind != "FLOCK") continue;
    in >> mode >> access >> pid_text >> where;
    if (where != dev_ino) continue;
    pid_t pid = 0;
    std::from_chars(pid_text.data(), pid_text.data() + pid_text.size(), pid);
    if (pid <= 0) {  // a holder in another PID namespace: the file says who
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        pid = read_lock_pid(fd).value_or(0);
        ::close(fd);
      }
    }
    return pid;
  }
  return std::nullopt;
}

}  // namespace clinbench::store
