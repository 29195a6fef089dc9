// The evaluation task a worker runs with the model it loaded: every item through the protocol
// engine (evaluate.h) on the llama.cpp backend, one record emitted per item as it finishes.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "clinbench/error.h"
#include "clinbench/evaluate.h"
#include "clinbench/load.h"
#include "model/attempt_runner.h"

namespace clinbench {

// The after-load work of an evaluation of `items`: one stream through the llama.cpp backend with
// decoding.parallel conversations in flight. `emit` (evaluate.h's RecordSink) is where a finished
// record goes: the supervisor's store (in-process) or the pipe (in a worker); an error stops the
// task, since a record that cannot be delivered must not be followed by others. The task fails with
// the sink's error, or with the items it could not deliver. The energy meters this machine has
// are sampled while the items run (each record's energy_j); what they measured goes to
// `energy_out` (Attempt::energy) when given.
AfterLoad make_eval_task(std::vector<DatasetItem> items, std::string model, EvalSettings settings,
                         RecordSink emit,
                         const std::shared_ptr<nlohmann::json>& energy_out = nullptr);

}  // namespace clinbench
