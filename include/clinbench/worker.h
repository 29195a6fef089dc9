// The worker process entry point. `clinbench __worker SPEC_JSON` (and the test binary's
// `__worker`) runs one loading attempt and writes its record as JSON to file descriptor 3.
#pragma once

namespace clinbench {

int worker_main(int argc, char** argv);

}  // namespace clinbench
