// The memory plan built in a child process (`clinbench __plan SPEC_JSON`), so that the
// supervisor of the loading chain never opens the accelerator itself: reading a CUDA device's
// free memory, and building a model for it even without allocating, creates a context that
// would hold device memory (hundreds of MiB) in the supervisor for the whole run, memory the
// workers then lack. A crash inside llama.cpp while planning ends the child only.
#pragma once

#include "clinbench/error.h"
#include "clinbench/model_info.h"
#include "clinbench/plan.h"

namespace clinbench {

// plan_model_in_child is declared in clinbench/plan.h.

// The child's entry point: writes "plan {json}" or "error {json}" to file descriptor 3.
int plan_child_main(int argc, char** argv);

}  // namespace clinbench
