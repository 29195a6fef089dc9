#include "backend/llama_engine.h"

#include <fmt/format.h>
#include <reasoning-budget.h>

#include <algorithm>

#include "util/clock.h"

namespace clinbench {

namespace {

class LlamaTokenSampler final : public TokenSampler {
 public:
  LlamaTokenSampler(llama_context* ctx, SamplerPtr s) : ctx_(ctx), s_(std::move(s)) {}
  TokenId sample(int row) override { return llama_sampler_sample(s_.get(), ctx_, row); }

 private:
  llama_context* ctx_;
  SamplerPtr s_;
};

// Greedy without a sampler chain: the argmax of the row's logits, the lowest id on a tie as
// llama.cpp's greedy sampler picks. The chain would first write a candidate entry for every token
// of the vocabulary (1.5 MB for a 128k vocabulary, every token generated).
class ArgmaxSampler final : public TokenSampler {
 public:
  ArgmaxSampler(llama_context* ctx, int n_vocab) : ctx_(ctx), n_vocab_(n_vocab) {}
  TokenId sample(int row) override {
    const float* logits = llama_get_logits_ith(ctx_, row);
    return static_cast<TokenId>(std::max_element(logits, logits + n_vocab_) - logits);
  }

 private:
  llama_context* ctx_;
  int n_vocab_;
};

}  // namespace

SamplerPtr make_llama_sampler(const GenerationParams& params) {
  SamplerPtr s(llama_sampler_chain_init(llama_sampler_chain_default_params()));
  if (params.temperature <= 0.0f) {
    llama_sampler_chain_add(s.get(), llama_sampler_init_greedy());
  } else {
    llama_sampler_chain_add(s.get(), llama_sampler_init_temp(params.temperature));
    llama_sampler_chain_add(s.get(), llama_sampler_init_dist(static_cast<uint32_t>(params.seed)));
  }
  return s;
}

std::unique_ptr<TokenSampler> LlamaEngine::sampler(const TokenRequest& req) {
  const ReasoningControl& rc = req.reasoning;
  if (rc.budget < 0 || rc.start.empty() || rc.ends.empty()) {
    if (req.params.temperature <= 0.0f) {
      return std::make_unique<ArgmaxSampler>(ctx_, llama_vocab_n_tokens(chat_.vocab()));
    }
    return std::make_unique<LlamaTokenSampler>(ctx_, make_llama_sampler(req.params));
  }
  // The budget first, as llama-server chains it: once spent, it leaves only the forced end tag.
  SamplerPtr s(llama_sampler_chain_init(llama_sampler_chain_default_params()));
  llama_sampler* budget =
      common_reasoning_budget_init(chat_.vocab(), {rc.start}, rc.ends, rc.forced, rc.budget,
                                   rc.open ? REASONING_BUDGET_COUNTING : REASONING_BUDGET_IDLE);
  llama_sampler_chain_add(s.get(), budget);
  llama_sampler_chain_add(s.get(), make_llama_sampler(req.params).release());
  return std::make_unique<LlamaTokenSampler>(ctx_, std::move(s));
}

int LlamaEngine::timed_decode(const llama_batch& batch) {
  const auto t0 = Clock::now();
  const int rc = llama_decode(ctx_, batch);
  // On an accelerator (CUDA, RPC) llama_decode returns once the work is queued; without the
  // wait, prefill_ms and engine_ms would stop early and the first sampling would absorb the
  // rest (seen as a 36x "prefill" on an RPC device). A no-op on the CPU.
  if (rc == 0) llama_synchronize(ctx_);
  stats_.engine_ms += ms_since(t0);
  ++stats_.engine_calls;
  stats_.tokens_evaluated += batch.n_tokens;
  return rc;
}

Result<void> LlamaEngine::decode(const std::vector<BatchToken>& tokens) {
  for (size_t k = 0; k < tokens.size(); ++k) {
    batch_.token[k] = tokens[k].token;
    batch_.pos[k] = tokens[k].pos;
    batch_.n_seq_id[k] = 1;
    batch_.seq_id[k][0] = tokens[k].seq;
    batch_.logits[k] = tokens[k].logits ? 1 : 0;
  }
  batch_.n_tokens = static_cast<int32_t>(tokens.size());
  const int rc = timed_decode(batch_);
  if (rc != 0) {
    return make_error(ErrorCode::kInternal, fmt::format("llama_decode failed ({})", rc));
  }
  return {};
}

Result<void> LlamaEngine::decode_run(const std::vector<llama_token>& toks, int pos0, int seq) {
  const size_t n_batch = llama_n_batch(ctx_);
  std::vector<BatchToken> chunk;
  for (size_t i = 0; i < toks.size(); i += n_batch) {
    const size_t n = std::min(toks.size() - i, n_batch);
    chunk.clear();
    for (size_t k = i; k < i + n; ++k) {
      chunk.push_back({toks[k], pos0 + static_cast<int32_t>(k), seq, k + 1 == toks.size()});
    }
    if (auto r = decode(chunk); !r) return r;
  }
  return {};
}

bool LlamaEngine::truncate(int seq, int n) {
  llama_memory_t mem = llama_get_memory(ctx_);
  if (llama_memory_seq_rm(mem, seq, n, -1)) return true;
  llama_memory_seq_rm(mem, seq, -1, -1);  // memory that cannot drop a tail (recurrent)
  return n == 0;
}

void LlamaEngine::copy_prefix(int src, int dst, int n) {
  llama_memory_t mem = llama_get_memory(ctx_);
  llama_memory_seq_rm(mem, dst, -1, -1);
  if (unified()) {
    llama_memory_seq_cp(mem, src, dst, 0, n);  // cells shared, no copy
    return;
  }
  // Per-sequence KV: llama.cpp copies whole streams only; the tail is dropped after.
  llama_memory_seq_cp(mem, src, dst, -1, -1);
  llama_memory_seq_rm(mem, dst, n, -1);
}

Result<std::string> LlamaEngine::constrained_answer(int seq, int pos,
                                                    const std::vector<std::string>& letters) {
  // The cue is the last text before the letter: its last token's logits pick it.
  std::vector<llama_token> cue = chat_.tokenize("\nAnswer:", false, false);
  if (pos + static_cast<int>(cue.size()) + 4 > seq_cells()) {
    return make_error(ErrorCode::kResource, "no room left in the context for the answer line");
  }
  if (auto r = decode_run(cue, pos, seq); !r) return std::unexpected(r.error());
  pos += static_cast<int>(cue.size());
  std::string alts;
  for (const auto& l : letters) {
    if (!alts.empty()) alts += " | ";
    alts += fmt::format("\"{}\"", l);
  }
  const std::string grammar = fmt::format("root ::= \" \"? ({})", alts);
  SamplerPtr smpl(llama_sampler_chain_init(llama_sampler_chain_default_params()));
  llama_sampler* g = llama_sampler_init_grammar(chat_.vocab(), grammar.c_str(), "root");
  if (g == nullptr) return make_error(ErrorCode::kInternal, "answer grammar failed to compile");
  llama_sampler_chain_add(smpl.get(), g);
  llama_sampler_chain_add(smpl.get(), llama_sampler_init_greedy());
  std::string text;
  auto chosen = [&]() -> const std::string* {
    for (const auto& l : letters) {
      if (text.find(l) != std::string::npos) return &l;
    }
    return nullptr;
  };
  for (int i = 0; i < 4; ++i) {
    const llama_token t = llama_sampler_sample(smpl.get(), ctx_, -1);
    if (llama_vocab_is_eog(chat_.vocab(), t)) break;
    text += chat_.piece(t, false);
    if (chosen() != nullptr) break;
    if (auto r = decode_run({t}, pos++, seq); !r) return std::unexpected(r.error());
  }
  if (const std::string* l = chosen()) return *l;
  return make_error(ErrorCode::kInternal,
                    fmt::format("constrained answer produced '{}', not a letter", text));
}

}  // namespace clinbench
