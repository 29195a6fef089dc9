// A model served over HTTP (backend = "openai") in a run: no loading chain. Its attempt log has
// one attempt, strategy remote, with the server's model list; its items go through the same
// protocol engine (evaluate_item) and reach the store the same way as in-process records.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "clinbench/attempt.h"
#include "clinbench/config.h"
#include "clinbench/evaluate.h"

namespace clinbench {

// Evaluates `items` with `in_flight` items at once, each on its own thread through
// evaluate_item; on_record gets each record as it finishes, from one thread at a time. The API
// key is read from the environment variable mc.api_key_env. An unreachable server or a missing
// key is a failed attempt with the reason; a request that keeps failing is that item's error.
// The only error is on_record's: the first one stops every thread and is returned. `notes` go
// into the attempt's remote.notes (e.g. why loglik scoring was replaced).
Result<AttemptLog> run_remote_model(
    const ModelConfig& mc, const std::vector<DatasetItem>& items, const EvalSettings& settings,
    const std::vector<std::string>& notes,
    const std::function<Result<void>(const ItemRecord&)>& on_record);

}  // namespace clinbench
