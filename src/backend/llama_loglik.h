// Log-likelihood scoring on a llama.cpp context, for the llama backend's loglik and loglik_many:
// an item's prompt and assistant prefix are evaluated once, then each option's continuation
// after them. A group of items is scored in the same decodes, one KV sequence each: their prompts
// in one batch, then their first options, their second options, and so on.
#pragma once

#include <llama.h>

#include <optional>
#include <vector>

#include "backend/llama_engine.h"
#include "backend/scheduler.h"
#include "clinbench/backend.h"
#include "clinbench/energy.h"
#include "model/llama_chat.h"

namespace clinbench {

// REQUIRES: every argument outlives the scorer. `held` is the backend's prompt cache (the
// tokens each sequence's KV holds); `ledger`, when it holds one, gets each decode's tokens by
// item and settles each item's energy.
class LlamaLoglik {
 public:
  LlamaLoglik(llama_context* ctx, const LlamaChat& chat, LlamaEngine& engine, HeldTokens& held,
              BackendStats& stats, std::optional<energy::Ledger>& ledger)
      : ctx_(ctx), chat_(chat), engine_(engine), held_(held), stats_(stats), ledger_(ledger) {}

  // One item, alone.
  Result<LoglikScores> score(const LoglikRequest& q);
  // Items that share the decodes; results in the order given. An item that cannot be prepared
  // (its prompt does not render, an option exceeds the context) fails alone; a failed decode
  // fails the whole group. REQUIRES: per-sequence KV (not unified), group.size() <= n_seq.
  std::vector<Result<LoglikScores>> score_group(const std::vector<LoglikRequest>& group);

 private:
  // An item on its way: its tokens, its sequence, its scores so far.
  struct Scoring {
    size_t index = 0;  // in the group
    int seq = 0;
    std::vector<llama_token> prompt;              // rendered prompt and assistant prefix
    std::vector<std::vector<llama_token>> conts;  // each option's continuation
    LoglikScores out;
  };

  Result<Scoring> prepare(const LoglikRequest& q) const;
  Result<LoglikScores> score_alone(Clock::time_point t0, const LoglikRequest& q);
  int best_sequence(const std::vector<llama_token>& toks, const std::vector<bool>& taken) const;
  // Truncates the item's sequence to the longest prefix of its prompt it holds; returns the
  // tokens kept.
  int keep_prefix(const Scoring& s);
  Result<void> prefill_group(std::vector<Scoring>& items);
  // The prefix every prompt of the group shares, computed once and copied to the sequences that
  // hold less of it; kept[k] (what items[k]'s sequence holds) grows to it.
  Result<void> share_group_prefix(std::vector<Scoring>& items, std::vector<int>& kept);
  Result<void> continue_group(std::vector<Scoring>& items);
  Result<void> score_continuations(int prefix_seq, Scoring& s);
  // Decodes the entries n_batch at a time, each chunk a ledger step with its tokens by item
  // (entry i belongs to items[owner[i]]); after each chunk, `read(i, row)` for its entries
  // with logits.
  template <typename Read>
  Result<void> decode_chunks(const std::vector<BatchToken>& entries,
                             const std::vector<size_t>& owner, Read read);
  // Adds each option's first token's log-probability after the prefix, from logits `row`.
  void score_first_tokens(const float* row, Scoring& s) const;
  // After a failed decode nothing in the cache is trusted.
  std::unexpected<Error> fail(const Error& e);

  llama_context* ctx_;
  const LlamaChat& chat_;
  LlamaEngine& engine_;
  HeldTokens& held_;
  BackendStats& stats_;
  std::optional<energy::Ledger>& ledger_;
};

}  // namespace clinbench
