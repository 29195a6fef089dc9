// Test runner. Like the clinbench binary, it doubles as the loading chain's child processes
// (`clinbench_tests __worker SPEC`, `__plan SPEC`), so chain tests run them from this binary.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "clinbench/worker.h"

int main(int argc, char** argv) {
  if (auto rc = clinbench::run_child_command(argc, argv)) return *rc;
  ::testing::InitGoogleTest(&argc, argv);
  // Each test process gets a KV layout cache of its own (model/kv_layout_cache.h), which its
  // workers and the clinbench processes it starts inherit: no test sees another's measurements,
  // nor the user's.
  std::string dir =
      (std::filesystem::temp_directory_path() / "clinbench-test-cache.XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) return 1;
  setenv("CLINBENCH_CACHE_DIR", dir.c_str(), 1);
  const int rc = RUN_ALL_TESTS();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return rc;
}
