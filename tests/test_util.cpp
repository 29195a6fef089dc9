#include "test_util.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "clinbench/energy.h"

namespace clinbench::testing {

void expect_same_bytes(const Bytes& a, const Bytes& b, const std::string& what) {
  EXPECT_EQ(a.weights, b.weights) << what << ": weights";
  EXPECT_EQ(a.kv, b.kv) << what << ": kv";
  EXPECT_EQ(a.compute, b.compute) << what << ": compute";
  EXPECT_EQ(a.overhead, b.overhead) << what << ": overhead";
}

std::string stories_model() {
  return std::string(CLINBENCH_SHARED_DIR) + "/models/stories260K.gguf";
}
std::string clinbench_binary() { return CLINBENCH_BINARY; }
std::string llama_tool(const std::string& name) {
  return std::string(CLINBENCH_LLAMA_BIN) + "/" + name;
}

ScratchDir::ScratchDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp ? tmp : "/tmp") + "/clinbench-test-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

CommandResult run_command(const std::vector<std::string>& argv) {
  ScratchDir dir;
  const std::string out_path = dir.file("out"), err_path = dir.file("err");
  pid_t pid = ::fork();
  if (pid == 0) {
    int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(o, 1);
    ::dup2(e, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  CommandResult r;
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  return r;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

std::string synthetic_model(const std::string& arch, const std::string& type,
                            const std::vector<std::string>& extra_args) {
  std::string key = arch + "-" + type;
  for (const auto& a : extra_args) key += "_" + a;
  for (char& c : key) {
    if (c == '-' || c == '/' || c == ' ') c = '_';
  }
  const char* tmp = std::getenv("TMPDIR");
  // Shared by the test processes of one build (ctest runs each test in its own process);
  // keyed by the binary's modification time so a rebuilt synth writes fresh files.
  const auto stamp =
      std::filesystem::last_write_time(clinbench_binary()).time_since_epoch().count();
  const std::string dir =
      std::string(tmp ? tmp : "/tmp") + "/clinbench-test-models-" + std::to_string(stamp);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/" + key + ".gguf";
  if (std::filesystem::exists(path)) return path;
  std::vector<std::string> argv = {clinbench_binary(), "synth", "--arch", arch,
                                   "--type",           type,    "-o",     path};
  if (extra_args.empty()) {
    for (const char* a : {"--layers", "2", "--embd", "128", "--ff", "256", "--heads", "4",
                          "--kv-heads", "2", "--ctx", "512"}) {
      argv.push_back(a);
    }
  } else {
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  }
  CommandResult r = run_command(argv);
  if (r.exit_code != 0) throw std::runtime_error("synth failed: " + r.err);
  return path;
}

FakePowercap::FakePowercap(const std::string& root, std::optional<double> watts)
    : zone_(root + "/intel-rapl:0") {
  std::filesystem::create_directories(root);
  const char* before = std::getenv(energy::kPowercapRootEnv);  // NOLINT(concurrency-mt-unsafe)
  if (before != nullptr) saved_env_ = before;
  setenv(energy::kPowercapRootEnv, root.c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
  if (!watts) return;
  std::filesystem::create_directories(zone_);
  write_file(zone_ + "/name", "package-0\n");
  write_file(zone_ + "/max_energy_range_uj", "262143328850\n");
  write(0);
  thread_ = std::thread([this, watts = *watts] {
    const auto t0 = std::chrono::steady_clock::now();
    while (!stop_) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      write(static_cast<uint64_t>(s * watts * 1e6));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
}

FakePowercap::~FakePowercap() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (saved_env_) {
    setenv(energy::kPowercapRootEnv, saved_env_->c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
  } else {
    unsetenv(energy::kPowercapRootEnv);  // NOLINT(concurrency-mt-unsafe)
  }
}

void FakePowercap::write(uint64_t uj) {
  const std::string tmp = zone_ + "/energy_uj.tmp";
  write_file(tmp, std::to_string(uj) + "\n");
  std::filesystem::rename(tmp, zone_ + "/energy_uj");
}

}  // namespace clinbench::testing
