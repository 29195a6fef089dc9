// Test runner. Like the clinbench binary, it doubles as the loading chain's child processes
// (`clinbench_tests __worker SPEC`, `__plan SPEC`), so chain tests run them from this binary.
#include <gtest/gtest.h>

#include <string>

#include "clinbench/worker.h"

int main(int argc, char** argv) {
  if (auto rc = clinbench::run_child_command(argc, argv)) return *rc;
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
