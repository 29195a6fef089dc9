// DecodeEngine (backend/scheduler.h) on a llama.cpp context: batches into llama_decode,
// samplers, the sequences' KV, and the grammar-constrained answer line.
#pragma once

#include <llama.h>

#include <memory>
#include <string>
#include <vector>

#include "backend/scheduler.h"
#include "clinbench/backend.h"
#include "model/llama_chat.h"

namespace clinbench {

struct SamplerDeleter {
  void operator()(llama_sampler* s) const { llama_sampler_free(s); }
};
using SamplerPtr = std::unique_ptr<llama_sampler, SamplerDeleter>;

// Greedy, or temperature then a seeded draw.
SamplerPtr make_llama_sampler(const GenerationParams& params);

// REQUIRES: ctx, chat and stats outlive the engine.
class LlamaEngine final : public DecodeEngine {
 public:
  LlamaEngine(llama_context* ctx, const LlamaChat& chat, BackendStats& stats)
      : ctx_(ctx),
        chat_(chat),
        stats_(stats),
        batch_(llama_batch_init(static_cast<int32_t>(llama_n_batch(ctx)), 0, 1)) {}
  ~LlamaEngine() override { llama_batch_free(batch_); }
  LlamaEngine(const LlamaEngine&) = delete;
  LlamaEngine& operator=(const LlamaEngine&) = delete;

  int n_seq() const override { return static_cast<int>(llama_n_seq_max(ctx_)); }
  int n_batch() const override { return static_cast<int>(llama_n_batch(ctx_)); }
  int seq_cells() const override { return static_cast<int>(llama_n_ctx_seq(ctx_)); }
  bool unified() const override { return llama_n_ctx_seq(ctx_) == llama_n_ctx(ctx_); }
  // REQUIRES: batch.size() <= n_batch().
  Result<void> decode(const std::vector<BatchToken>& batch) override;
  // Greedy or seeded sampling, behind llama.cpp's reasoning-budget sampler when the request
  // has a thinking budget.
  std::unique_ptr<TokenSampler> sampler(const TokenRequest& req) override;
  bool is_eog(TokenId t) const override { return llama_vocab_is_eog(chat_.vocab(), t); }
  std::string piece(TokenId t) override { return chat_.piece(t, false); }
  bool truncate(int seq, int n) override;
  void copy_prefix(int src, int dst, int n) override;
  void clear() override { llama_memory_clear(llama_get_memory(ctx_), true); }
  Result<std::string> constrained_answer(int seq, int pos,
                                         const std::vector<std::string>& letters) override;

  // Decodes tokens into one sequence from pos0 on, n_batch at a time; logits for the last.
  Result<void> decode_run(const std::vector<llama_token>& toks, int pos0, int seq);
  // llama_decode and the wait for its result, counted in the stats. Returns llama_decode's code.
  int timed_decode(const llama_batch& batch);
  llama_context* context() const { return ctx_; }

 private:
  llama_context* ctx_;
  const LlamaChat& chat_;
  BackendStats& stats_;
  llama_batch batch_;  // n_batch tokens, refilled by every decode()
};

}  // namespace clinbench
