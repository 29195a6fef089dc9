// The supervisor-worker protocol, both sides. A worker is `clinbench __worker SPEC`, where SPEC
// is the JSON of a WorkerSpec: what to load, how, and what to do with the model. The worker
// writes one message per line to file descriptor 3: a RecordMessage for each item its task
// finishes, then an AttemptMessage, the attempt's own record. Items to evaluate travel in a
// file (an argument list could not hold thousands of them), one DatasetItem per line.
//
// These forms are internal: the supervisor and the worker are the same binary. Only the record
// (samples.jsonl, docs/telemetry.md) and the attempt (docs/attempt-log.md) are formats users
// read, and they travel in exactly those forms.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "clinbench/attempt.h"
#include "clinbench/error.h"
#include "clinbench/evaluate.h"
#include "clinbench/load.h"
#include "model/attempt_runner.h"

namespace clinbench {

// The evaluation a worker runs after loading: the items of `items_path` (an items file).
struct EvalJob {
  std::string items_path;
  std::string model;  // the model's name in the run
  EvalSettings settings;
};

struct WorkerSpec {
  AttemptSpec attempt;
  std::optional<EvalJob> eval;  // none: load, warm up, report
};

std::string encode_spec(const WorkerSpec& spec);
// Errors name the field that is missing or of the wrong type ("worker spec: ...").
Result<WorkerSpec> decode_spec(std::string_view text);

struct RecordMessage {
  ItemRecord record;
};
struct AttemptMessage {
  Attempt attempt;
};
using WorkerMessage = std::variant<RecordMessage, AttemptMessage>;

// One line, without its newline. Model output may hold invalid UTF-8: it is sent as U+FFFD.
std::string encode_message(const WorkerMessage& message);
// Errors (kCorrupt) say what was wrong with the line: an unknown kind, JSON that does not parse,
// a record or attempt with a missing or mistyped field.
Result<WorkerMessage> decode_message(std::string_view line);

// Items files. Writing reports any I/O error (a full disk included) naming the file; reading
// names the file and line of a malformed entry.
Result<void> write_items_file(const std::filesystem::path& path,
                              const std::vector<DatasetItem>& items);
Result<std::vector<DatasetItem>> read_items_file(const std::filesystem::path& path);

// The JSON forms of the parts, exposed for tests.
nlohmann::json to_json(const AttemptSpec& spec);
Result<AttemptSpec> attempt_spec_from_json(const nlohmann::json& j);
nlohmann::json item_to_wire(const Item& item);
Result<Item> item_from_wire(const nlohmann::json& j);
Result<ItemRecord> item_record_from_json(const nlohmann::json& j);
nlohmann::json to_json(const EvalSettings& settings);
Result<EvalSettings> eval_settings_from_json(const nlohmann::json& j);

}  // namespace clinbench
