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
};

// A turn's token budget when none is configured (DecodingConfig::max_tokens).
inline constexpr int kDefaultMaxTokens = 512;

struct GenerationParams {
  int max_tokens = kDefaultMaxTokens;  // the turn's token budget
  float temperature = 0.0f;            // 0: greedy
  uint64_t seed = 0;                   // used when sampling
  // Letters the answer may take; when non-empty, after the free reply the model is made to
  // write "Answer: X" with X constrained by a grammar to these letters.
  std::vector<std::string> constrained_answer_letters;
};

struct Generation {
  std::string text;                               // the reply (without the constrained answer line)
  std::optional<std::string> constrained_answer;  // the grammar-constrained letter
  int64_t prompt_tokens = 0;
  int64_t output_tokens = 0;  // reply tokens (the constrained answer not included)
  double ttft_ms = 0;         // request start to first generated token (prefill included)
  double prefill_ms = 0;
  double decode_ms = 0;
  bool truncated = false;  // stopped by max_tokens before end-of-sequence
};

struct OptionScore {
  std::string letter;
  double logprob = 0;  // sum of the continuation's token log-probabilities
  int64_t tokens = 0;  // continuation tokens
};

struct LoglikScores {
  std::vector<OptionScore> options;
  int64_t prompt_tokens = 0;
  double prefill_ms = 0;       // the shared prefix, evaluated once
  double continuation_ms = 0;  // all continuations
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
  // Several independent conversations; a backend may decode them together (parallel sequences
  // in one context). Results are in the order given. Times are wall-clock intervals, shared with
  // the conversations decoded alongside. The default generates them one after another.
  // REQUIRES: params.size() == conversations.size().
  virtual std::vector<Result<Generation>> generate_many(
      const std::vector<std::vector<ChatMessage>>& conversations,
      const std::vector<GenerationParams>& params) {
    std::vector<Result<Generation>> out;
    out.reserve(conversations.size());
    for (size_t i = 0; i < conversations.size(); ++i) {
      out.push_back(generate(conversations[i], params[i]));
    }
    return out;
  }
  // Log-likelihood of each continuation after the rendered messages plus `assistant_prefix`
  // (the start of the assistant's reply). The prefix is evaluated once and reused.
  virtual Result<LoglikScores> loglik(
      const std::vector<ChatMessage>& messages, const std::string& assistant_prefix,
      const std::vector<std::pair<std::string, std::string>>& letter_continuations) = 0;
  virtual int64_t count_tokens(const std::string& text) = 0;
  virtual BackendStats stats() const = 0;
};

}  // namespace clinbench
