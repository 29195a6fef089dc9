// Entry points of clinbench's child processes. `clinbench __worker SPEC_JSON` (and the test and
// benchmark binaries' `__worker`) runs one loading attempt and writes its record as JSON to file
// descriptor 3; `__plan SPEC_JSON` builds the memory plan (model/plan_child.h).
#pragma once

#include <optional>

namespace clinbench {

int worker_main(int argc, char** argv);

// Runs the child-process command argv[1] names ("__worker", "__plan") and returns its exit
// status; nullopt when argv[1] is none of them. Every binary that runs the loading chain calls
// it first thing in main(); it also notes the process's address space at start
// (startup_address_space, for the plan's process overhead).
std::optional<int> run_child_command(int argc, char** argv);

}  // namespace clinbench
