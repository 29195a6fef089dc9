// Shared helpers for tests: paths of the real model and tools, scratch directories, and running
// the clinbench CLI as a user would.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "clinbench/plan.h"

namespace clinbench::testing {

// EXPECTs each field of two byte breakdowns equal, naming `what` on a difference.
void expect_same_bytes(const Bytes& a, const Bytes& b, const std::string& what);

// ../shared/models/stories260K.gguf (the real trained tiny Llama).
std::string stories_model();
// The clinbench binary built beside the tests.
std::string clinbench_binary();
// A llama.cpp tool from the cache (llama-completion, llama-bench, ...).
std::string llama_tool(const std::string& name);

// A fresh directory under $TMPDIR, removed with everything in it at scope exit.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
};

// Runs argv (no shell; argv[0] is looked up on PATH), capturing stdout and stderr.
CommandResult run_command(const std::vector<std::string>& argv);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& data);

// A small synthetic model written once per test binary run and cached under $TMPDIR:
// "llama", "qwen2", ... with the given weight type.
std::string synthetic_model(const std::string& arch, const std::string& type,
                            const std::vector<std::string>& extra_args = {});

// A powercap tree under `root` with one package whose energy_uj grows at `watts`, rewritten every
// 2 ms (by rename: a reader never sees half a number), and CLINBENCH_POWERCAP_ROOT pointing at
// it (for this process and the clinbench it starts) while the object lives. On a loaded machine
// the writer lags and catches up: the power comes in bursts, exact only over long spans.
// `watts` nullopt: an empty tree (a machine without RAPL).
class FakePowercap {
 public:
  FakePowercap(const std::string& root, std::optional<double> watts);
  ~FakePowercap();
  FakePowercap(const FakePowercap&) = delete;
  FakePowercap& operator=(const FakePowercap&) = delete;

 private:
  void write(uint64_t uj);
  std::string zone_;
  std::optional<std::string> saved_env_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace clinbench::testing
