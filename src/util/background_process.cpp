#include "util/background_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "util/subprocess.h"
#include "util/tcp_check.h"

namespace clinbench {

Result<BackgroundProcess> BackgroundProcess::start(const std::vector<std::string>& argv,
                                                   const std::string& log_path) {
  if (argv.empty()) return make_error(ErrorCode::kInternal, "BackgroundProcess: empty argv");
  std::vector<std::string> copy = argv;
  std::vector<char*> args;
  for (auto& a : copy) args.push_back(a.data());
  args.push_back(nullptr);
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log < 0) {
    return make_error(ErrorCode::kIo,
                      fmt::format("{}: cannot create: {}", log_path, std::strerror(errno)));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log);
    return make_error(ErrorCode::kResource, fmt::format("fork: {}", std::strerror(errno)));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    ::dup2(log, 1);
    ::dup2(log, 2);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(log);
  BackgroundProcess p;
  p.pid_ = pid;
  p.log_path_ = log_path;
  return p;
}

BackgroundProcess::BackgroundProcess(BackgroundProcess&& other) noexcept
    : pid_(other.pid_), log_path_(std::move(other.log_path_)) {
  other.pid_ = -1;
}

BackgroundProcess& BackgroundProcess::operator=(BackgroundProcess&& other) noexcept {
  if (this != &other) {
    stop();
    pid_ = other.pid_;
    log_path_ = std::move(other.log_path_);
    other.pid_ = -1;
  }
  return *this;
}

BackgroundProcess::~BackgroundProcess() { stop(); }

bool BackgroundProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    pid_ = -1;
    return false;
  }
  return true;
}

void BackgroundProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

Result<int> free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return make_error(ErrorCode::kResource, fmt::format("socket: {}", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int e = errno;
    ::close(fd);
    return make_error(ErrorCode::kResource, fmt::format("bind 127.0.0.1:0: {}", std::strerror(e)));
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

Result<void> wait_until_ready(const std::string& origin, const std::string& path,
                              BackgroundProcess& process, double timeout_s) {
  const auto t0 = std::chrono::steady_clock::now();
  httplib::Client client(origin);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(5, 0);
  while (true) {
    if (!process.running()) {
      return make_error(ErrorCode::kInternal,
                        fmt::format("the server exited before it was ready; its log ends:\n{}",
                                    tail_file(process.log_path())));
    }
    auto res = client.Get(path.c_str());
    if (res && res->status == 200) return {};
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > timeout_s) {
      return make_error(ErrorCode::kResource,
                        fmt::format("GET {}{}: not ready within {} s; the server's log ends:\n{}",
                                    origin, path, timeout_s, tail_file(process.log_path())));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Result<void> wait_until_accepting(int port, BackgroundProcess& process, double timeout_s) {
  const auto t0 = std::chrono::steady_clock::now();
  while (true) {
    if (!process.running()) {
      return make_error(ErrorCode::kInternal,
                        fmt::format("the server exited before it was ready; its log ends:\n{}",
                                    tail_file(process.log_path())));
    }
    auto r = tcp_connect_check("127.0.0.1", std::to_string(port), 1000);
    if (r) return {};
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > timeout_s) {
      return make_error(
          ErrorCode::kResource,
          fmt::format("127.0.0.1:{}: {} within {} s; the server's log ends:\n{}", port,
                      r.error().message, timeout_s, tail_file(process.log_path())));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace clinbench
