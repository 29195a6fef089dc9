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

Result<ChildResult> run_child(const SpawnOptions& o) {
  if (o.argv.empty()) return make_error(ErrorCode::kInternal, "run_child: empty argv");
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    return make_error(ErrorCode::kResource, fmt::format("pipe: {}", std::strerror(errno)));
  }
  // Everything the child needs is prepared before fork: no allocation after it.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    bool replaced = false;  // a variable set in o.env replaces the inherited one
    for (const auto& [k, v] : o.env) {
      if (entry.size() > k.size() && entry.compare(0, k.size(), k) == 0 && entry[k.size()] == '=') {
        replaced = true;
      }
    }
    if (!replaced) env_strings.push_back(entry);
  }
  for (const auto& [k, v] : o.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = o.argv;
  std::vector<char*> argv;
  for (auto& s : argv_copy) argv.push_back(s.data());
  argv.push_back(nullptr);
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
  if (pid == 0) {
    // Child: async-signal-safe calls only. The worker dies with its supervisor.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(pipefd[1], 3);  // dup2 clears O_CLOEXEC on the new descriptor
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
    ::execve(argv[0], argv.data(), envp.data());
    const char msg[] = "clinbench: cannot exec worker\n";
    ssize_t ignored = ::write(2, msg, sizeof(msg) - 1);
    (void)ignored;
    ::_exit(127);
  }
  ::close(pipefd[1]);
  if (errfd >= 0) ::close(errfd);
  ChildResult r;
  // The watchdog stops before the child is reaped, so its PID cannot belong to another process
  // when it is killed.
  std::atomic<bool> child_done{false};
  std::atomic<bool> over{false};
  std::atomic<uint64_t> over_bytes{0};
  std::thread watchdog;
  if (o.resident_limit) {
    watchdog = std::thread([&, limit = *o.resident_limit] {
      while (!child_done.load()) {
        const uint64_t resident = resident_anon_shmem_bytes(pid);
        if (resident > limit) {
          over_bytes = resident;
          over = true;
          ::kill(pid, SIGKILL);
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
  auto deliver = [&](std::string_view line) {
    if (r.stopped || o.on_line(line)) return;
    r.stopped = true;
    ::kill(pid, SIGKILL);  // not reaped yet, so the PID is still the child's
  };
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(pipefd[0], buf, sizeof(buf));
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
  ::close(pipefd[0]);
  child_done = true;
  if (watchdog.joinable()) watchdog.join();
  r.over_resident_limit = over.load();
  r.resident_bytes_at_kill = over_bytes.load();
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
