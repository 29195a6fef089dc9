// A model served over HTTP (backend = "openai") in a run: no loading chain. Its attempt log has
// one attempt, strategy remote, with the server's model list; its items go through the same
// protocol engine (evaluate_item) and reach the store the same way as in-process records.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "clinbench/config.h"
#include "clinbench/evaluate.h"
#include "clinbench/load.h"

namespace clinbench {

// Evaluates the items of `items_path` (the supervisor's pending-items file) with `in_flight`
// items at once, each on its own thread through evaluate_item; on_record gets each record as it
// finishes, from one thread at a time. The API key is read from the environment variable
// mc.api_key_env. Never fails: an unreachable server or a missing key is a failed attempt with
// the reason; a request that keeps failing is that item's error. `notes` go into the attempt's
// remote.notes (e.g. why loglik scoring was replaced).
AttemptLog run_remote_model(const ModelConfig& mc, const std::string& items_path,
                            const EvalSettings& settings, const std::vector<std::string>& notes,
                            const std::function<void(const nlohmann::json&)>& on_record);

}  // namespace clinbench
