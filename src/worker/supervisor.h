// Running one loading attempt for the chain: in a worker process (the default: a crash, abort or
// OOM kill ends that worker only, and the operating system returns every byte) or in this
// process (--isolation none).
#pragma once

#include <cstdint>
#include <optional>

#include "clinbench/attempt.h"
#include "model/attempt_runner.h"
#include "worker/eval_task.h"
#include "worker/protocol.h"

namespace clinbench {

// How the supervisor holds a worker to the host budget (at most one is set).
struct WorkerLimits {
  std::optional<uint64_t> address_space;  // RLIMIT_AS
  std::optional<uint64_t> resident;       // killed once anonymous + shared resident memory is over
};

// Spawns `clinbench __worker` for `spec` and reads its messages as they come: each record goes
// to `sink` at once; a sink error stops the worker (SIGKILL). Never fails: a worker that cannot
// start, crashes, is killed or breaks the protocol is an attempt with that outcome and reason.
Attempt run_in_worker(const WorkerSpec& spec, const WorkerLimits& limits, const RecordSink& sink);

// Runs the attempt in this process: the peak RSS counter is reset first so that the attempt's
// own peak is read, and the heap is trimmed after (model and context are freed by then).
Attempt run_in_process(const AttemptSpec& spec, const AfterLoad& after_load);

}  // namespace clinbench
