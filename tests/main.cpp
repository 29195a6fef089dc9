// Test runner. Like the clinbench binary, it doubles as the loading chain's worker process
// (`clinbench_tests __worker SPEC`), so chain tests run their workers from this binary.
#include <gtest/gtest.h>

#include <string>

#include "clinbench/worker.h"

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "__worker") return clinbench::worker_main(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
