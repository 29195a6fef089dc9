// What the evaluation protocol needs from a model: chat generation and option log-likelihoods.
// Implemented in-process on llama.cpp (backend/llama_backend) and, later, over HTTP.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "clinbench/error.h"

namespace clinbench {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
  // An assistant turn's reasoning (a thinking model's thinking section), kept apart from its
  // answer; the template decides whether a later turn shows it. "" when none.
  std::string reasoning;
};

// Whether a model that can think (a reasoning model's chat template: Qwen3, DeepSeek-R1,
// gpt-oss, ...) is asked to: kAuto leaves it to the template's default; kOn and kOff set the
// template's enable_thinking. A template without a thinking switch renders the same for all.
enum class Thinking { kAuto, kOn, kOff };
const char* to_string(Thinking t);
std::optional<Thinking> thinking_from_string(const std::string& s);

// Tokens a thinking model may think for, on top of a turn's max_tokens, when none is
// configured (DecodingConfig::reasoning_budget): enough for a reasoning model to finish on most
// CURE-Bench items (docs/protocol.md).
inline constexpr int kDefaultReasoningBudget = 4096;
// DecodingConfig::reasoning_budget: thinking is not cut (only max_tokens bounds the turn).
inline constexpr int kUnlimitedReasoning = -1;

// A turn's token budget when none is configured (DecodingConfig::max_tokens).
inline constexpr int kDefaultMaxTokens = 512;

struct GenerationParams {
  int max_tokens = kDefaultMaxTokens;  // the turn's token budget
  float temperature = 0.0f;            // 0: greedy
  uint64_t seed = 0;                   // used when sampling
  // Letters the answer may take; when non-empty, after the free reply the model is made to
  // write "Answer: X" with X constrained by a grammar to these letters.
  std::vector<std::string> constrained_answer_letters;
  Thinking thinking = Thinking::kAuto;
  // When the reply opens a thinking section: tokens it may think for before the end of thinking
  // is forced (llama.cpp's reasoning budget), added to max_tokens for the turn; or
  // kUnlimitedReasoning.
  int reasoning_budget = kDefaultReasoningBudget;
};

struct Generation {
  // The reply (without the constrained answer line); for a thinking model, its final answer only.
  std::string text;
  // A thinking model's reasoning, parsed apart with llama.cpp's chat parser for the template
  // (or the server's reasoning_content). Empty when the reply opened no thinking section.
  std::string reasoning;
  bool thinking = false;         // the reply opened a thinking section (the prompt may have)
  bool reasoning_closed = true;  // ... and closed it: false when it was cut while thinking
  int64_t reasoning_tokens = 0;  // tokens of the thinking section (its end tag included)
  // The thinking budget the turn had: GenerationParams::reasoning_budget, less where the
  // context could not hold it beside the prompt and max_tokens; -1: none (no thinking, no
  // budget, or a served model).
  int reasoning_budget = -1;
  std::optional<std::string> constrained_answer;  // the grammar-constrained letter
  int64_t prompt_tokens = 0;
  // Of prompt_tokens, those whose KV was not computed for this turn: kept in its sequence from
  // the conversation before (the prompt cache) or copied from another sequence holding the same
  // prefix. prefill_ms is the time of the others. None for a served model (the server's cache is
  // not visible).
  std::optional<int64_t> prompt_cached_tokens;
  int64_t output_tokens = 0;  // reply tokens (the constrained answer not included)
  double ttft_ms = 0;         // request start to first generated token (prefill included)
  double prefill_ms = 0;
  double decode_ms = 0;
  bool truncated = false;  // stopped by max_tokens before end-of-sequence
  // Sequences decoding alongside this one (itself included), averaged over its decode steps;
  // 1: alone; 0: unknown (a remote server batches as it likes).
  double batch_width = 1;
  // Joules the meters measured for this conversation: its share of each decode it was in, by
  // tokens (docs/energy.md). None when not measured (no meter, a served model, a meter failed).
  std::optional<double> energy_j;
};

// One conversation to continue, as a stream of them hands it to the backend.
struct GenerationRequest {
  size_t id = 0;  // the caller's, handed back with the result
  std::vector<ChatMessage> messages;
  GenerationParams params;
};

// Where a stream of generations comes from and where its results go (Backend::generate_stream).
// next() is asked whenever the backend has room for another conversation: it returns the next
// request, or nothing when none is ready now. done() may make new requests ready (the second
// turn of a conversation, say); the stream ends when next() has nothing and nothing is in flight.
class GenerationFeed {
 public:
  virtual ~GenerationFeed() = default;
  virtual std::optional<GenerationRequest> next() = 0;
  virtual void done(size_t id, Result<Generation> result) = 0;
};

struct OptionScore {
  std::string letter;
  double logprob = 0;  // sum of the continuation's token log-probabilities
  int64_t tokens = 0;  // continuation tokens
};

struct LoglikScores {
  std::vector<OptionScore> options;
  int64_t prompt_tokens = 0;
  double prefill_ms = 0;           // the shared prefix, evaluated once
  double continuation_ms = 0;      // all continuations
  std::optional<double> energy_j;  // as Generation::energy_j: its share, by tokens
  // Items scored in the same decodes (Backend::loglik_many), itself included; 1: alone. The
  // times above are then those of the group's phases, shared with the others.
  int batch_width = 1;
};

// One item's log-likelihood scoring, as Backend::loglik takes it.
struct LoglikRequest {
  std::vector<ChatMessage> messages;
  std::string assistant_prefix;
  std::vector<std::pair<std::string, std::string>> continuations;  // letter, text
};

// Where the backend's time went, for overhead accounting (bench/): time inside the inference
// engine's decode calls (llama_decode, or the HTTP round trips of a remote backend).
struct BackendStats {
  double engine_ms = 0;
  int64_t engine_calls = 0;
  int64_t tokens_evaluated = 0;
  int64_t prompt_tokens_reused = 0;  // prompt tokens whose KV was kept from the previous item
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Renders the messages with the model's chat template and generates the assistant's reply.
  virtual Result<Generation> generate(const std::vector<ChatMessage>& messages,
                                      const GenerationParams& params) = 0;
  // Generates the feed's conversations with up to `width` of them in flight at once (continuous
  // batching: when one ends, the next is admitted). Each result goes to feed.done() as soon as
  // it is ready; its times are the conversation's own (from its admission), and batch_width
  // says how many it shared the decode steps with. The default generates them one at a time.
  virtual void generate_stream(GenerationFeed& feed, int width);
  // Several independent conversations through generate_stream; results in the order given.
  // REQUIRES: params.size() == conversations.size().
  virtual std::vector<Result<Generation>> generate_many(
      const std::vector<std::vector<ChatMessage>>& conversations,
      const std::vector<GenerationParams>& params, int width);
  // Log-likelihood of each continuation after the rendered messages plus `assistant_prefix`
  // (the start of the assistant's reply). The prefix is evaluated once and reused.
  virtual Result<LoglikScores> loglik(
      const std::vector<ChatMessage>& messages, const std::string& assistant_prefix,
      const std::vector<std::pair<std::string, std::string>>& letter_continuations) = 0;
  // Several items' scorings, with up to `width` of them in the same decodes (their prompts in
  // one batch, then their options' continuations); results in the order given. The default
  // scores them one at a time.
  virtual std::vector<Result<LoglikScores>> loglik_many(const std::vector<LoglikRequest>& requests,
                                                        int width);
  virtual int64_t count_tokens(const std::string& text) = 0;
  virtual BackendStats stats() const = 0;
};

}  // namespace clinbench
