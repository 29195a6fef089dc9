#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "util/process_memory.h"
#include "util/subprocess.h"

extern char** environ;

namespace clinbench {

std::vector<std::pair<std::string, std::string>> child_process_env() {
  std::vector<std::pair<std::string, std::string>> env = {{"GGML_NO_BACKTRACE", "1"}};
#if defined(__SANITIZE_ADDRESS__)
  const char* asan = std::getenv("ASAN_OPTIONS");
  env.emplace_back("ASAN_OPTIONS",
                   std::string(asan ? asan : "") + ":handle_segv=0:handle_abort=0:handle_sigbus=0");
#endif
  return env;
}

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", sig);
}

std::string self_executable() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  buf[n] = '\0';
  return buf;
}

namespace {

// The child's argv and environment as execve takes them. Built before fork: the child
// allocates nothing.
class ExecArgs {
 public:
  explicit ExecArgs(const SpawnOptions& o) : argv_strings_(o.argv) {
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      bool replaced = false;  // a variable set in o.env replaces the inherited one
      for (const auto& [k, v] : o.env) {
        if (entry.size() > k.size() && entry.compare(0, k.size(), k) == 0 &&
            entry[k.size()] == '=') {
          replaced = true;
        }
      }
      if (!replaced) env_strings_.push_back(entry);
    }
    for (const auto& [k, v] : o.env) {
      std::string entry = k;
      entry += '=';
      entry += v;
      env_strings_.push_back(std::move(entry));
    }
    for (auto& s : env_strings_) envp_.push_back(s.data());
    envp_.push_back(nullptr);
    for (auto& s : argv_strings_) argv_.push_back(s.data());
    argv_.push_back(nullptr);
  }
  ExecArgs(const ExecArgs&) = delete;
  ExecArgs& operator=(const ExecArgs&) = delete;

  char* const* argv() const { return argv_.data(); }
  char* const* envp() const { return envp_.data(); }

 private:
  std::vector<std::string> argv_strings_;
  std::vector<std::string> env_strings_;
  std::vector<char*> argv_;  // into argv_strings_
  std::vector<char*> envp_;  // into env_strings_
};

// The child's side of fork: descriptors, limits, exec. Async-signal-safe calls only.
[[noreturn]] void exec_child(const SpawnOptions& o, const ExecArgs& args, int result_fd,
                             int errfd) {
  // The worker dies with its supervisor.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::dup2(result_fd, 3);  // dup2 clears O_CLOEXEC on the new descriptor
  if (errfd >= 0) {
    ::dup2(errfd, 2);
    ::dup2(errfd, 1);
  }
  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) ::dup2(devnull, 0);
  struct rlimit core {
    0, 0
  };
  ::setrlimit(RLIMIT_CORE, &core);
  if (o.address_space_limit) {
    struct rlimit as {
      static_cast<rlim_t>(*o.address_space_limit), static_cast<rlim_t>(*o.address_space_limit)
    };
    ::setrlimit(RLIMIT_AS, &as);
  }
  ::execve(args.argv()[0], args.argv(), args.envp());
  const char msg[] = "clinbench: cannot exec worker\n";
  ssize_t ignored = ::write(2, msg, sizeof(msg) - 1);
  (void)ignored;
  ::_exit(127);
}

// Kills the child (SIGKILL) once its anonymous and shared resident memory is over the limit.
// The watchdog stops before the child is reaped, so its PID cannot belong to another process
// when it is killed.
class ResidentWatchdog {
 public:
  // Without a limit, nothing is watched.
  ResidentWatchdog(pid_t pid, std::optional<uint64_t> limit) {
    if (!limit) return;
    thread_ = std::thread([this, pid, limit = *limit] {
      while (!child_done_.load()) {
        const uint64_t resident = resident_anon_shmem_bytes(pid);
        if (resident > limit) {
          over_bytes_ = resident;
          over_ = true;
          ::kill(pid, SIGKILL);
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
  ResidentWatchdog(const ResidentWatchdog&) = delete;
  ResidentWatchdog& operator=(const ResidentWatchdog&) = delete;

  // Stops watching and records in r whether the child was killed, and at what memory.
  void stop(ChildResult& r) {
    child_done_ = true;
    if (thread_.joinable()) thread_.join();
    r.over_resident_limit = over_.load();
    r.resident_bytes_at_kill = over_bytes_.load();
  }

 private:
  std::atomic<bool> child_done_{false};
  std::atomic<bool> over_{false};
  std::atomic<uint64_t> over_bytes_{0};
  std::thread thread_;
};

// Reads fd until the child closes it: with o.on_line, line by line (the child killed once it
// returns false), else all of it into r.result.
void read_child_output(int fd, const SpawnOptions& o, pid_t pid, ChildResult& r) {
  auto deliver = [&](std::string_view line) {
    if (r.stopped || o.on_line(line)) return;
    r.stopped = true;
    ::kill(pid, SIGKILL);  // not reaped yet, so the PID is still the child's
  };
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    r.result.append(buf, static_cast<size_t>(n));
    if (o.on_line) {
      size_t nl;
      while ((nl = r.result.find('\n')) != std::string::npos) {
        deliver(std::string_view(r.result).substr(0, nl));
        r.result.erase(0, nl + 1);
      }
    }
  }
  if (o.on_line && !r.result.empty()) {
    deliver(r.result);  // a last line without newline (a worker cut short)
    r.result.clear();
  }
}

// Waits for the child and records how it ended, its peak memory and its time since t0.
Result<void> reap_child(pid_t pid, std::chrono::steady_clock::time_point t0, ChildResult& r) {
  int status = 0;
  struct rusage ru {};
  while (::wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      return make_error(ErrorCode::kInternal, fmt::format("wait4: {}", std::strerror(errno)));
    }
  }
  r.wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  r.peak_rss_bytes = static_cast<uint64_t>(ru.ru_maxrss) * 1024;
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return {};
}

}  // namespace

Result<ChildResult> run_child(const SpawnOptions& o) {
  if (o.argv.empty()) return make_error(ErrorCode::kInternal, "run_child: empty argv");
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    return make_error(ErrorCode::kResource, fmt::format("pipe: {}", std::strerror(errno)));
  }
  const ExecArgs args(o);
  int errfd = -1;
  if (!o.stderr_path.empty()) {
    errfd = ::open(o.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (errfd < 0) {
      ::close(pipefd[0]);
      ::close(pipefd[1]);
      return make_error(ErrorCode::kIo, fmt::format("{}: cannot create worker log: {}",
                                                    o.stderr_path, std::strerror(errno)));
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    if (errfd >= 0) ::close(errfd);
    return make_error(ErrorCode::kResource, fmt::format("fork: {}", std::strerror(e)));
  }
  if (pid == 0) exec_child(o, args, pipefd[1], errfd);
  ::close(pipefd[1]);
  if (errfd >= 0) ::close(errfd);
  ChildResult r;
  ResidentWatchdog watchdog(pid, o.resident_limit);
  read_child_output(pipefd[0], o, pid, r);
  ::close(pipefd[0]);
  watchdog.stop(r);
  if (auto w = reap_child(pid, t0, r); !w) return std::unexpected(w.error());
  return r;
}

std::string tail_file(const std::string& path, size_t max_lines, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const auto size = static_cast<size_t>(in.tellg());
  const size_t start = size > max_bytes ? size - max_bytes : 0;
  in.seekg(static_cast<std::streamoff>(start));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t pos = data.size();
  size_t lines = 0;
  if (!data.empty() && data.back() == '\n') --pos;
  while (pos > 0) {
    if (data[pos - 1] == '\n' && ++lines >= max_lines) break;
    --pos;
  }
  return data.substr(pos);
}

}  // namespace clinbench
