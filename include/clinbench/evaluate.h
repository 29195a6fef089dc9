// The CURE-Bench protocol (internal-reasoning track) on any Backend: prompts, turns, answer
// extraction, scoring and per-item telemetry.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "clinbench/backend.h"
#include "clinbench/item.h"
#include "clinbench/record.h"

namespace clinbench {

// The protocol's settings: the [prompts] and [decoding] tables of a run's config
// (docs/config.md).
enum class Scoring { kGenerate, kLoglik };
const char* to_string(Scoring s);
std::optional<Scoring> scoring_from_string(const std::string& s);

struct PromptConfig {
  std::string system = "You are a careful clinical expert. Answer medical questions accurately.";
  std::string multi_choice_instruction =
      "Think briefly, then give your final answer on the last line as 'Answer: X', where X is "
      "the letter of the correct option.";
  std::string open_instruction = "Answer the question concisely.";
  std::string map_instruction =
      "Which option matches your answer? Reply with 'Answer: X', where X is the option letter.";
};

// DecodingConfig::parallel chosen by the memory plan ("auto").
inline constexpr int kParallelAuto = 0;

// How the sequences' KV cells are laid out (llama.cpp's kv_unified): kSplit gives each sequence
// cells of its own, which only its tokens attend over; kUnified makes one pool of the same cells
// that every sequence draws from and every token's attention spans; kAuto measures both on the
// loaded model and keeps the faster (docs/attempt-log.md, "kv").
enum class KvLayout { kAuto, kSplit, kUnified };
const char* to_string(KvLayout k);
std::optional<KvLayout> kv_layout_from_string(const std::string& s);

struct DecodingConfig {
  Scoring scoring = Scoring::kGenerate;
  int max_tokens = kDefaultMaxTokens;  // per turn
  float temperature = 0.0f;            // 0: greedy
  uint64_t seed = 0;                   // sampling seed
  bool constrained_answer = false;     // grammar-constrained final "Answer: X"
  bool strict = false;                 // a bad dataset row fails the run
  // Conversations in flight at once, each in a KV sequence of its own with `ctx` cells,
  // continuously batched (backend/scheduler.h); 1 .. kMaxSequences, or kParallelAuto: the most
  // whose KV the memory plan fits beside the model, up to the items to generate.
  int parallel = kParallelAuto;
  // The KV layout of the sequences (one sequence: the same either way).
  KvLayout kv = KvLayout::kAuto;
  // Log-likelihood items scored in the same decodes, up to `parallel` (their prompts in one
  // batch, then their options round by round): 1 scores one at a time, which measured faster on
  // CPUs (docs/benchmarks.md, gen_bench's loglik workload); 1 .. kMaxSequences.
  int loglik_batch = 1;
  // Whether a reasoning model thinks (per model: ModelConfig::thinking overrides it), and the
  // tokens it may think for on top of max_tokens (kUnlimitedReasoning: max_tokens alone bounds
  // the turn). docs/protocol.md, "Thinking".
  Thinking thinking = Thinking::kAuto;
  int reasoning_budget = kDefaultReasoningBudget;
};

// One item to evaluate and the name of its dataset in the run.
struct DatasetItem {
  std::string dataset;
  Item item;
};

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

// What an item's sequence holds before its last reply, with its earlier replies left empty, and
// how many replies it generates there: for sizing its KV cells (CellsProbe). Log-likelihood
// items: the scored prompt with "Answer:" and the longest option, no reply.
struct CellsConversation {
  std::vector<ChatMessage> messages;
  uint32_t turns = 1;
};
CellsConversation cells_conversation(const Item& item, const EvalSettings& settings);

// Evaluates one item. Never fails: a backend error becomes the record's `error`.
//  - multi_choice: question and lettered options, one turn; the answer is extracted from the
//    reply (or taken from the grammar-constrained answer line when enabled).
//  - open_ended_multi_choice: turn 1 without options (its reply is the prediction); turn 2 gives
//    the model its own answer and the options and asks for the letter.
//  - open_ended: one turn; choice NOTAVALUE; never scored.
//  - scoring loglik (lettered items): no generation; the option whose text has the highest
//    length-normalized log-likelihood after "Answer:" is the choice; raw and normalized scores
//    are in `extra`. open_ended items are generated. open_ended_multi_choice items in two
//    stages: turn 1 generated without the options, as above; then, after the options and the
//    mapping instruction, the option letters are scored after "Answer:".
//  - a thinking model's reply (Generation::thinking): the answer is read from its final answer
//    only; a reply cut before its thinking closed has no answer (extraction_rule
//    "truncated_in_reasoning") and is truncated.
// A reply cut by the token budget before an answer was found is truncated and not scored.
ItemRecord evaluate_item(Backend& backend, const Item& item, const EvalSettings& settings,
                         const std::string& model, const std::string& dataset);

// Called with each finished item's record; an error stops the evaluation.
using RecordSink = std::function<Result<void>(const ItemRecord&)>;

// Evaluates items of `model` as one stream: log-likelihood items first, then the generation
// turns with up to `width` conversations in flight (Backend::generate_stream: continuous
// batching in one context), each record handed to `emit` as soon as its item is done (not in
// the given order). Under greedy decoding the records equal evaluate_item's up to the
// floating-point order of different batches (docs/protocol.md); timings are each item's own,
// from its admission. Returns the first error `emit` returned.
Result<void> evaluate_stream(Backend& backend, const std::vector<DatasetItem>& items,
                             const EvalSettings& settings, const std::string& model, int width,
                             const RecordSink& emit);

// evaluate_stream's records, in the given order.
std::vector<ItemRecord> evaluate_items(Backend& backend, const std::vector<DatasetItem>& items,
                                       const EvalSettings& settings, const std::string& model,
                                       int width);

}  // namespace clinbench
