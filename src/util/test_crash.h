// A test hook for child processes: CLINBENCH_TEST_CRASH="<stage>=<segv|abort|exit>" makes the
// child at that stage (a strategy's name for a loading worker, "plan" for the planning process)
// die the given way, to prove the supervisor survives it and says what happened.
#pragma once

#include <string_view>

namespace clinbench {

void test_crash_hook(std::string_view stage);

}  // namespace clinbench
