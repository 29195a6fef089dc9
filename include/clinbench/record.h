// One finished item: the record the evaluation protocol (evaluate.h) produces, the run store
// keeps (store.h) and samples.jsonl exports (docs/telemetry.md).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace clinbench {

// One finished item: its outcome and its telemetry. Field names are the column names of the
// items table and the keys of samples.jsonl. Units are in the names (_ms, _chars, _tokens,
// _per_s). record_item rejects negative counts and times and non-finite numbers.
struct ItemRecord {
  // Key: (model, dataset, item_id), each non-empty.
  std::string model;    // the model's name in the run (ModelRecord::name)
  std::string dataset;  // the dataset's name in the run
  std::string item_id;  // Item::id

  std::string split;          // Item::split ("" when unknown)
  std::string question_type;  // "multi_choice", "open_ended_multi_choice" or "open_ended"
  std::string scoring;        // "generate" or "loglik"

  int64_t prompt_tokens = 0;           // tokens of the first turn's prompt
  std::vector<int64_t> output_tokens;  // tokens generated, one entry per turn ([] for loglik)
  int64_t reasoning_chars = 0;         // characters (bytes of UTF-8) of the reasoning text
  int64_t reasoning_tokens = 0;        // tokens of the reasoning text
  std::optional<double> ttft_ms;       // first turn: start to first generated token; none when
                                       // nothing was generated
  double prefill_ms = 0;               // prompt evaluation, all turns
  double decode_ms = 0;                // token generation, all turns
  std::optional<double> tokens_per_s;  // generated tokens / decode time; none without decoding
  // Joules the run's meters measured for this item, all turns: its share of every decode it was
  // in, by tokens (docs/energy.md). None where no meter could be read, for served models, and
  // for items that failed.
  std::optional<double> energy_j;

  std::string choice;      // "A".."E", "NOTAVALUE" for open_ended, "" when none was extracted
  std::string prediction;  // the model's open answer text ("" when none)
  std::optional<std::string> correct_answer;  // the labeled letter; none when unlabeled
  std::optional<bool> correct;  // none when unlabeled or not scored; requires correct_answer
  std::string extraction_rule;  // the extractor rule that matched ("" when none)
  bool truncated = false;       // a turn hit its token budget before it answered
  std::string error;            // "" when the item completed; else what went wrong
  std::string trace;            // full text of the turns, as the evaluation layer wrote it
  nlohmann::json extra = nlohmann::json::object();  // anything else, any JSON value

  // Set by the store; ignored by record_item.
  int64_t seq = 0;          // 1-based order in which items were recorded in this run
  std::string finished_at;  // UTC, "2025-01-31T12:34:56.789Z"

  bool operator==(const ItemRecord&) const = default;
};

}  // namespace clinbench
