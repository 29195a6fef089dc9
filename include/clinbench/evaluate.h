// The CURE-Bench protocol (internal-reasoning track) on any Backend: prompts, turns, answer
// extraction, scoring and per-item telemetry.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "clinbench/backend.h"
#include "clinbench/config.h"
#include "clinbench/item.h"
#include "clinbench/store.h"

namespace clinbench {

struct EvalSettings {
  PromptConfig prompts;
  DecodingConfig decoding;
};

// The conversation an item opens with (system prompt, then the user turn): for kLoglik the
// question, lettered options and "Answer with the correct option."; for kGenerate the question
// and options with the multi_choice instruction, or (other types) the question with the open
// instruction. Log-likelihood scoring continues it with the assistant prefix "Answer:".
std::vector<ChatMessage> opening_messages(const Item& item, const PromptConfig& prompts,
                                          Scoring scoring);

// Evaluates one item. Never fails: a backend error becomes the record's `error`.
//  - multi_choice: question and lettered options, one turn; the answer is extracted from the
//    reply (or taken from the grammar-constrained answer line when enabled).
//  - open_ended_multi_choice: turn 1 without options (its reply is the prediction); turn 2 gives
//    the model its own answer and the options and asks for the letter.
//  - open_ended: one turn; choice NOTAVALUE; never scored.
//  - scoring loglik (lettered items): no generation; the option whose text has the highest
//    length-normalized log-likelihood after "Answer:" is the choice; raw and normalized scores
//    are in `extra`. open_ended items are generated.
// A reply cut by the token budget before an answer was found is truncated and not scored.
ItemRecord evaluate_item(Backend& backend, const Item& item, const EvalSettings& settings,
                         const std::string& model, const std::string& dataset);

// Evaluates several items of `model` ((dataset name, item) pairs) with their generation turns
// decoded together (Backend::generate_many: parallel sequences in one context), in the given
// order. The records equal evaluate_item's under greedy decoding, except for timings, which are
// wall-clock intervals shared with the items decoded alongside.
std::vector<ItemRecord> evaluate_items(Backend& backend,
                                       const std::vector<std::pair<std::string, Item>>& items,
                                       const EvalSettings& settings, const std::string& model);

// Wire forms between the supervisor and a worker (JSON objects).
nlohmann::json item_to_wire(const Item& item);
Result<Item> item_from_wire(const nlohmann::json& j);
Result<ItemRecord> item_record_from_json(const nlohmann::json& j);
nlohmann::json to_json(const EvalSettings& settings);
Result<EvalSettings> eval_settings_from_json(const nlohmann::json& j);

}  // namespace clinbench
