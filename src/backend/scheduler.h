// Continuous batching, as llama-server's slots do it: up to `width` conversations in flight in
// one context, one sequence each; every llama_decode carries one token of each conversation that
// is generating plus chunks of the prompts being admitted; when a conversation ends, the next one
// is admitted at once. Written against DecodeEngine, not llama.h, so that tests can script it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "clinbench/backend.h"
#include "clinbench/error.h"
#include "util/clock.h"

namespace clinbench {

using TokenId = int32_t;

// One token of a decode batch; `logits` asks for the distribution after it.
struct BatchToken {
  TokenId token = 0;
  int32_t pos = 0;
  int32_t seq = 0;
  bool logits = false;
};

// Draws tokens for one conversation from the rows of the last decoded batch.
class TokenSampler {
 public:
  virtual ~TokenSampler() = default;
  // The next token from the distribution at batch row `row` (its index in the batch).
  virtual TokenId sample(int row) = 0;
};

// A thinking section's budget as the sampler enforces it (llama.cpp's reasoning-budget sampler):
// after `budget` tokens inside the section the end tag is forced.
struct ReasoningControl {
  int budget = -1;                         // < 0: none
  std::vector<TokenId> start;              // the start tag
  std::vector<std::vector<TokenId>> ends;  // the end tags
  std::vector<TokenId> forced;             // written when the budget runs out (an end tag)
  bool open = false;  // the prompt opened the section (DeepSeek-R1's "<think>\n"): counting starts
};

// A conversation as tokens (the backend renders and tokenizes).
struct TokenRequest {
  size_t id = 0;
  std::vector<TokenId> prompt;
  GenerationParams params;  // params.max_tokens is the whole turn's budget
  ReasoningControl reasoning;
};

// What the scheduler needs from an inference context (LlamaEngine on llama.cpp; scripted in
// tests). Sequences are 0 .. n_seq() - 1.
class DecodeEngine {
 public:
  virtual ~DecodeEngine() = default;
  virtual int n_seq() const = 0;
  virtual int n_batch() const = 0;  // the most tokens one decode takes
  // KV cells a sequence may use: its own share with per-sequence KV, the whole pool (shared with
  // the other sequences) with a unified KV.
  virtual int seq_cells() const = 0;
  virtual bool unified() const = 0;
  virtual Result<void> decode(const std::vector<BatchToken>& batch) = 0;
  virtual std::unique_ptr<TokenSampler> sampler(const TokenRequest& req) = 0;
  virtual bool is_eog(TokenId t) const = 0;
  virtual std::string piece(TokenId t) = 0;
  // Drops the positions >= n of `seq`; false when the memory cannot drop a tail (recurrent
  // models), in which case the whole sequence is dropped.
  virtual bool truncate(int seq, int n) = 0;
  // `dst` holds `src`'s positions 0 .. n-1 afterwards, and nothing else.
  virtual void copy_prefix(int src, int dst, int n) = 0;
  virtual void clear() = 0;  // every sequence emptied (after a failed decode)
  // Writes the answer cue into `seq` at `pos` and has the model pick one of `letters` under a
  // grammar. Decodes on its own: the logits of the last batch are gone afterwards.
  virtual Result<std::string> constrained_answer(int seq, int pos,
                                                 const std::vector<std::string>& letters) = 0;
  // KV cells the cue and answer need after a reply.
  static constexpr int kAnswerReserve = 8;
};

class TokenFeed {
 public:
  virtual ~TokenFeed() = default;
  virtual std::optional<TokenRequest> next() = 0;
  // `reply`: the tokens the conversation generated (end-of-generation token excluded).
  virtual void done(size_t id, Result<Generation> result, const std::vector<TokenId>& reply) = 0;
};

// Told when each decode starts and what it carries, so that what the conversations share (the
// energy of a batch: energy.h's Ledger) can be split among them by their tokens.
class StepObserver {
 public:
  virtual ~StepObserver() = default;
  // A decode starts at `t` carrying `tokens[i].second` tokens of conversation tokens[i].first
  // (its TokenRequest::id); the decode before it, and what followed it, ends there.
  virtual void step(Clock::time_point t, const std::vector<std::pair<size_t, int64_t>>& tokens) = 0;
  // Nothing runs from `t` until the next step.
  virtual void pause(Clock::time_point t) = 0;
};

// The prompt cache: held[s] are the tokens whose KV sequence s holds at positions 0 .. n-1 (the
// last prompt evaluated there, not its reply: see llama_backend.cpp). Kept across calls.
using HeldTokens = std::vector<std::vector<TokenId>>;

// How many tokens a and b share from the start.
size_t common_prefix(const std::vector<TokenId>& a, const std::vector<TokenId>& b);

// Shared prefixes shorter than this are recomputed rather than copied or waited for.
inline constexpr int kMinSharedPrefix = 16;

// Runs the feed to its end with up to `width` conversations in flight (at most engine.n_seq()).
// A new conversation goes to the idle sequence holding the longest prefix of its prompt; when
// another sequence holds (or is computing) a longer one, it is copied from there instead of
// recomputed. A prompt that cannot fit its sequence's cells fails alone; a reply is cut where its
// sequence's cells end (truncated). With a unified KV, a conversation is admitted only when the
// pool has room for its prompt and whole budget beside those in flight. A failed decode fails
// the conversations in flight and empties the cache; the feed goes on. `observer`, when given,
// is told of every decode (a conversation's answer line is a step of its own) and of the end.
// Returns the prompt tokens whose KV was kept or copied instead of computed.
int64_t run_continuous_batching(DecodeEngine& engine, HeldTokens& held, TokenFeed& feed, int width,
                                StepObserver* observer = nullptr);

}  // namespace clinbench
