// The worker's evaluation task: after a successful load and warm-up, evaluate the items listed
// in a JSONL file and emit one record per item as it finishes.
//
// Task JSON: {"kind": "eval", "items_path": FILE, "model": NAME, "settings": EvalSettings JSON}
// FILE holds one {"dataset": NAME, "item": wire item} object per line.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>

#include "clinbench/item.h"
#include "model/attempt_runner.h"

namespace clinbench {

using RecordSink = std::function<void(const nlohmann::json& record)>;

// The (dataset, item) pairs of an items file, in order. Errors name the file and line.
Result<std::vector<std::pair<std::string, Item>>> read_item_lines(const std::string& path);

// Returns the AfterLoad that runs `task`, or an error for an unknown or malformed task. An empty
// task ({}) gives an empty AfterLoad.
Result<AfterLoad> make_task(const nlohmann::json& task, RecordSink emit);

}  // namespace clinbench
