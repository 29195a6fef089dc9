#include "util/test_crash.h"

#include <csignal>
#include <cstdlib>
#include <string>

namespace clinbench {

void test_crash_hook(std::string_view stage) {
  const char* v = std::getenv("CLINBENCH_TEST_CRASH");
  if (v == nullptr) return;
  const std::string s = v;
  const auto eq = s.find('=');
  if (eq == std::string::npos || s.substr(0, eq) != stage) return;
  const std::string how = s.substr(eq + 1);
  if (how == "segv") std::raise(SIGSEGV);
  if (how == "abort") std::abort();
  if (how == "exit") std::_Exit(3);
}

}  // namespace clinbench
