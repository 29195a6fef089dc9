#include "backend/llama_backend.h"

#include <fmt/format.h>
#include <llama.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "backend/log_sum_exp.h"
#include "model/llama_chat.h"
#include "util/clock.h"

namespace clinbench {

namespace {

struct SamplerDeleter {
  void operator()(llama_sampler* s) const { llama_sampler_free(s); }
};
using SamplerPtr = std::unique_ptr<llama_sampler, SamplerDeleter>;

class LlamaBackend final : public Backend {
 public:
  LlamaBackend(llama_model* model, llama_context* ctx)
      : ctx_(ctx), chat_(model), vocab_(chat_.vocab()), seq_tokens_(llama_n_seq_max(ctx)) {
    llama_memory_clear(llama_get_memory(ctx_), true);  // the warm-up's tokens, say
  }

  Result<Generation> generate(const std::vector<ChatMessage>& messages,
                              const GenerationParams& params) override {
    const auto t0 = Clock::now();
    auto prompt = render(messages);
    if (!prompt) return std::unexpected(prompt.error());
    std::vector<llama_token> toks = tokenize_prompt(*prompt);
    if (toks.empty()) return make_error(ErrorCode::kInvalidArgument, "the prompt is empty");
    Generation g;
    g.prompt_tokens = static_cast<int64_t>(toks.size());
    const int n_ctx = static_cast<int>(llama_n_ctx(ctx_));
    if (static_cast<int>(toks.size()) >= n_ctx) {
      return make_error(
          ErrorCode::kResource,
          fmt::format("prompt of {} tokens does not fit the context of {}", toks.size(), n_ctx));
    }
    // The budget, within what the context can still hold (the constrained answer needs a few).
    const int reserve = params.constrained_answer_letters.empty() ? 0 : 8;
    const int budget = std::min(params.max_tokens, n_ctx - static_cast<int>(toks.size()) - reserve);
    // The sequence that holds most of this prompt (the first turn of this conversation, say).
    const llama_seq_id seq = assign_sequences({&toks}).front();
    for (llama_seq_id q = 0; q < static_cast<llama_seq_id>(seq_tokens_.size()); ++q) {
      if (q != seq) drop_seq(q);
    }
    const int kept = keep_prefix(seq, toks);
    if (auto r = decode_tokens(tail(toks, kept), kept, seq); !r) {
      forget_all();
      return std::unexpected(r.error());
    }
    seq_tokens_[static_cast<size_t>(seq)] = toks;
    g.prefill_ms = ms_since(t0);

    SamplerPtr smpl(llama_sampler_chain_init(llama_sampler_chain_default_params()));
    if (params.temperature <= 0.0f) {
      llama_sampler_chain_add(smpl.get(), llama_sampler_init_greedy());
    } else {
      llama_sampler_chain_add(smpl.get(), llama_sampler_init_temp(params.temperature));
      llama_sampler_chain_add(smpl.get(),
                              llama_sampler_init_dist(static_cast<uint32_t>(params.seed)));
    }
    const auto td = Clock::now();
    int pos = static_cast<int>(toks.size());
    bool first = true;
    while (true) {
      if (g.output_tokens >= budget) {
        g.truncated = true;
        break;
      }
      llama_token t = llama_sampler_sample(smpl.get(), ctx_, -1);
      if (first) {
        g.ttft_ms = ms_since(t0);
        first = false;
      }
      if (llama_vocab_is_eog(vocab_, t)) break;
      g.text += piece(t, false);
      ++g.output_tokens;
      if (auto r = decode_tokens({t}, pos, seq); !r) {
        forget_all();
        return std::unexpected(r.error());
      }
      ++pos;
    }
    g.decode_ms = ms_since(td);
    if (first) g.ttft_ms = ms_since(t0);

    if (!params.constrained_answer_letters.empty()) {
      auto letter = constrained_answer(pos, params.constrained_answer_letters, seq);
      if (!letter) return std::unexpected(letter.error());
      g.constrained_answer = *letter;
    }
    return g;
  }

  std::vector<Result<Generation>> generate_many(
      const std::vector<std::vector<ChatMessage>>& conversations,
      const std::vector<GenerationParams>& all_params) override {
    std::vector<Result<Generation>> out(conversations.size(),
                                        make_error(ErrorCode::kInternal, "not generated"));
    const int n_ctx = static_cast<int>(llama_n_ctx(ctx_));
    std::vector<Seq> ready;
    for (size_t i = 0; i < conversations.size(); ++i) {
      const GenerationParams& params = all_params[i];
      const int reserve = params.constrained_answer_letters.empty() ? 0 : 8;
      auto prompt = render(conversations[i]);
      if (!prompt) {
        out[i] = std::unexpected(prompt.error());
        continue;
      }
      Seq s{i, tokenize_prompt(*prompt), params.max_tokens, &params};
      if (static_cast<int>(s.prompt.size()) + reserve >= n_ctx) {
        out[i] = make_error(ErrorCode::kResource,
                            fmt::format("prompt of {} tokens does not fit the context of {}",
                                        s.prompt.size(), n_ctx));
        continue;
      }
      s.budget = std::min(params.max_tokens, n_ctx - static_cast<int>(s.prompt.size()) - reserve);
      ready.push_back(std::move(s));
    }
    // Groups that fit the sequences and, all together, the context.
    const int n_seq = static_cast<int>(llama_n_seq_max(ctx_));
    size_t next = 0;
    while (next < ready.size()) {
      std::vector<Seq*> group;
      int cells = 0;
      while (next < ready.size() && static_cast<int>(group.size()) < n_seq) {
        const int need = static_cast<int>(ready[next].prompt.size()) + ready[next].budget + 8;
        if (!group.empty() && cells + need > n_ctx) break;
        group.push_back(&ready[next++]);
        cells += need;
      }
      if (group.size() == 1) {
        out[group[0]->index] = generate(conversations[group[0]->index], *group[0]->params);
        continue;
      }
      run_group(group, out);
    }
    return out;
  }

  Result<LoglikScores> loglik(
      const std::vector<ChatMessage>& messages, const std::string& assistant_prefix,
      const std::vector<std::pair<std::string, std::string>>& continuations) override {
    const auto t0 = Clock::now();
    auto prompt = render(messages);
    if (!prompt) return std::unexpected(prompt.error());
    const std::vector<llama_token> ptoks = tokenize_prompt(*prompt + assistant_prefix);
    LoglikScores out;
    out.prompt_tokens = static_cast<int64_t>(ptoks.size());
    const int n_ctx = static_cast<int>(llama_n_ctx(ctx_));
    const int n_prefix = static_cast<int>(ptoks.size());
    if (ptoks.empty()) return make_error(ErrorCode::kInvalidArgument, "the prompt is empty");
    std::vector<std::vector<llama_token>> conts;
    for (const auto& [letter, text] : continuations) {
      std::vector<llama_token> ct = tokenize(text, false, false);
      if (ct.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("option {} tokenizes to nothing", letter));
      }
      if (n_prefix + static_cast<int>(ct.size()) > n_ctx) {
        return make_error(ErrorCode::kResource,
                          fmt::format("prompt and option {} ({} tokens) exceed the context of {}",
                                      letter, n_prefix + ct.size(), n_ctx));
      }
      OptionScore sc;
      sc.letter = letter;
      sc.tokens = static_cast<int64_t>(ct.size());
      out.options.push_back(sc);
      conts.push_back(std::move(ct));
    }
    llama_memory_t mem = llama_get_memory(ctx_);
    const int n_seq = static_cast<int>(llama_n_seq_max(ctx_));
    const int n_first = std::min(static_cast<int>(conts.size()), n_seq);
    // What the best-matching sequence holds of this prefix stays (the previous item's
    // chat-template header and system prompt, say), moved to sequence 0; the first round's other
    // sequences share it, a KV copy.
    const llama_seq_id best = assign_sequences({&ptoks}).front();
    for (llama_seq_id q = 0; q < n_seq; ++q) {
      if (q != best) drop_seq(q);
    }
    const int kept = keep_prefix(best, ptoks);
    if (best != 0) {
      if (kept > 0) llama_memory_seq_cp(mem, best, 0, 0, kept);
      seq_tokens_[0] = seq_tokens_[static_cast<size_t>(best)];
      drop_seq(best);
    }
    for (int g = 1; g < n_first; ++g) {
      if (kept > 0) llama_memory_seq_cp(mem, 0, g, 0, kept);
    }

    // The prefix is evaluated once: its tokens belong to every option's sequence at once (one
    // KV cell shared by all, kv_unified), and each option's continuation follows in its own
    // sequence, in the same llama_decode where the batch allows. Options beyond the sequences
    // a context has copy the prefix from sequence 0 (a KV copy, no recomputation).
    double first_lse = 0;  // log-sum-exp of the distribution after the prefix
    bool prefix_done = false;
    for (size_t start = 0; start < conts.size(); start += static_cast<size_t>(n_seq)) {
      const size_t end = std::min(conts.size(), start + static_cast<size_t>(n_seq));
      const int n_group = static_cast<int>(end - start);
      std::vector<Entry> entries;
      if (!prefix_done) {
        for (int i = kept; i < n_prefix; ++i) {
          entries.push_back({ptoks[static_cast<size_t>(i)], i, 0, n_group,
                             i + 1 == n_prefix ? kFirstRow : kNoRow, 0});
        }
      } else {
        for (int g = 1; g < n_group; ++g) {
          llama_memory_seq_rm(mem, g, -1, -1);
          llama_memory_seq_cp(mem, 0, g, 0, n_prefix);
        }
        llama_memory_seq_rm(mem, 0, n_prefix, -1);
      }
      for (size_t o = start; o < end; ++o) {
        const auto& ct = conts[o];
        for (size_t i = 0; i + 1 < ct.size(); ++i) {
          entries.push_back({ct[i], n_prefix + static_cast<int>(i),
                             static_cast<llama_seq_id>(o - start), 1, static_cast<int>(o),
                             ct[i + 1]});
        }
      }
      auto r = decode_entries(entries, [&](const Entry& e, const float* logits, int n_vocab) {
        if (e.row == kFirstRow) {
          first_lse = log_sum_exp(logits, n_vocab);
          for (size_t o = 0; o < conts.size(); ++o) {
            out.options[o].logprob += static_cast<double>(logits[conts[o][0]]) - first_lse;
          }
          out.prefill_ms = ms_since(t0);
        } else {
          out.options[static_cast<size_t>(e.row)].logprob +=
              static_cast<double>(logits[e.next]) - log_sum_exp(logits, n_vocab);
        }
      });
      if (!r) {
        forget_all();
        return std::unexpected(r.error());
      }
      prefix_done = true;
    }
    for (int g = 0; g < n_first; ++g) seq_tokens_[static_cast<size_t>(g)] = ptoks;
    out.continuation_ms = ms_since(t0) - out.prefill_ms;
    return out;
  }

  BackendStats stats() const override { return stats_; }

  int64_t count_tokens(const std::string& text) override {
    return static_cast<int64_t>(tokenize(text, false, false).size());
  }

 private:
  // The model's template and tokenizer (model/llama_chat.h).
  Result<std::string> render(const std::vector<ChatMessage>& messages) {
    return chat_.render(messages);
  }
  std::vector<llama_token> tokenize(const std::string& text, bool add_special, bool parse_special) {
    return chat_.tokenize(text, add_special, parse_special);
  }
  std::vector<llama_token> tokenize_prompt(const std::string& text) {
    return chat_.tokenize_prompt(text);
  }
  std::string piece(llama_token t, bool special) { return chat_.piece(t, special); }

  // Prompt cache. seq_tokens_[s] are the tokens whose KV sequence s holds at positions 0..n-1:
  // the last prompt evaluated there. Not its reply: the reply's KV, computed one token at a
  // time, differs in the last digits from a prefill of the same tokens, and keeping it made runs
  // with and without parallel sequences agree less (RunEndToEnd.ParallelSequences...: 7 of 10
  // identical replies instead of at least 8).
  // A new prompt keeps its longest common prefix with them and evaluates only the rest, as
  // llama-server's slots do: every item's prompt starts with the same chat-template header and
  // system prompt. The KV of the kept tokens is what evaluating them again would give, up to
  // the floating-point order of a different batch.

  // Keeps the longest common prefix of `toks` and what `s` holds, but never the last token
  // (its logits are needed); drops the rest of `s`. Returns the tokens kept.
  int keep_prefix(llama_seq_id s, const std::vector<llama_token>& toks) {
    auto& held = seq_tokens_[static_cast<size_t>(s)];
    size_t n = toks.empty() ? 0 : std::min(common_prefix(held, toks), toks.size() - 1);
    llama_memory_t mem = llama_get_memory(ctx_);
    if (!llama_memory_seq_rm(mem, s, static_cast<llama_pos>(n), -1)) {
      llama_memory_seq_rm(mem, s, -1, -1);  // memory that cannot drop a tail (recurrent)
      n = 0;
    }
    held.resize(n);
    stats_.prompt_tokens_reused += static_cast<int64_t>(n);
    return static_cast<int>(n);
  }
  // For each prompt in turn, the free sequence whose held tokens share the longest prefix with
  // it (the lowest such id on a tie). REQUIRES: prompts.size() <= the context's sequences.
  std::vector<llama_seq_id> assign_sequences(
      const std::vector<const std::vector<llama_token>*>& prompts) const {
    std::vector<bool> taken(seq_tokens_.size(), false);
    std::vector<llama_seq_id> out;
    for (const auto* p : prompts) {
      size_t best = 0, best_len = 0;
      bool found = false;
      for (size_t q = 0; q < seq_tokens_.size(); ++q) {
        if (taken[q]) continue;
        const size_t len = common_prefix(seq_tokens_[q], *p);
        if (!found || len > best_len) {
          best = q;
          best_len = len;
          found = true;
        }
      }
      taken[best] = true;
      out.push_back(static_cast<llama_seq_id>(best));
    }
    return out;
  }
  void drop_seq(llama_seq_id s) {
    llama_memory_seq_rm(llama_get_memory(ctx_), s, -1, -1);
    seq_tokens_[static_cast<size_t>(s)].clear();
  }
  // After a failed decode nothing in the cache is trusted.
  void forget_all() {
    llama_memory_clear(llama_get_memory(ctx_), true);
    for (auto& t : seq_tokens_) t.clear();
  }
  static size_t common_prefix(const std::vector<llama_token>& a,
                              const std::vector<llama_token>& b) {
    return static_cast<size_t>(
        std::mismatch(a.begin(), a.begin() + std::min(a.size(), b.size()), b.begin()).first -
        a.begin());
  }
  static std::vector<llama_token> tail(const std::vector<llama_token>& toks, int from) {
    return {toks.begin() + from, toks.end()};
  }

  Result<void> decode_tokens(const std::vector<llama_token>& toks, int pos0, llama_seq_id seq = 0) {
    const int n_batch = static_cast<int>(llama_n_batch(ctx_));
    for (size_t i = 0; i < toks.size(); i += static_cast<size_t>(n_batch)) {
      const int n = static_cast<int>(std::min(toks.size() - i, static_cast<size_t>(n_batch)));
      llama_batch batch = llama_batch_init(n, 0, 1);
      for (int k = 0; k < n; ++k) {
        batch.token[k] = toks[i + static_cast<size_t>(k)];
        batch.pos[k] = pos0 + static_cast<int>(i) + k;
        batch.n_seq_id[k] = 1;
        batch.seq_id[k][0] = seq;
        batch.logits[k] = (i + static_cast<size_t>(k) + 1 == toks.size()) ? 1 : 0;
      }
      batch.n_tokens = n;
      const int rc = timed_decode(batch);
      llama_batch_free(batch);
      if (rc != 0) {
        return make_error(ErrorCode::kInternal, fmt::format("llama_decode failed ({})", rc));
      }
    }
    return {};
  }

  // Several conversations decoded together, one sequence each, one llama_decode per step.
  struct Seq {
    size_t index;
    std::vector<llama_token> prompt;
    int budget;
    const GenerationParams* params;
  };

  void run_group(const std::vector<Seq*>& group, std::vector<Result<Generation>>& out) {
    const auto t0 = Clock::now();
    const size_t n = group.size();
    // Each conversation goes to the sequence holding most of its prompt; the others are emptied.
    std::vector<const std::vector<llama_token>*> prompts;
    for (const Seq* s : group) prompts.push_back(&s->prompt);
    const std::vector<llama_seq_id> seq_of = assign_sequences(prompts);
    for (llama_seq_id q = 0; q < static_cast<llama_seq_id>(seq_tokens_.size()); ++q) {
      if (std::find(seq_of.begin(), seq_of.end(), q) == seq_of.end()) drop_seq(q);
    }
    std::vector<Generation> gen(n);
    std::vector<int> pos(n), logits_row(n, -1);
    std::vector<bool> active(n, true), first(n, true);
    std::vector<Clock::time_point> done_at(n);
    auto fail_all = [&](const Error& e) {
      forget_all();
      for (size_t i = 0; i < n; ++i) out[group[i]->index] = std::unexpected(e);
    };
    // Prefill every prompt but its last token, each in its own sequence; the last tokens go
    // into the first step together, so every sequence's logits come from one batch.
    llama_batch step = llama_batch_init(static_cast<int>(n), 0, 1);
    for (size_t i = 0; i < n; ++i) {
      const auto& p = group[i]->prompt;
      gen[i].prompt_tokens = static_cast<int64_t>(p.size());
      const int kept = keep_prefix(seq_of[i], p);
      if (static_cast<size_t>(kept) + 1 < p.size()) {
        std::vector<llama_token> head(p.begin() + kept, p.end() - 1);
        if (auto r = decode_tokens(head, kept, seq_of[i]); !r) {
          llama_batch_free(step);
          return fail_all(r.error());
        }
      }
      step.token[i] = p.back();
      step.pos[i] = static_cast<int>(p.size()) - 1;
      step.n_seq_id[i] = 1;
      step.seq_id[i][0] = seq_of[i];
      step.logits[i] = 1;
      logits_row[i] = static_cast<int>(i);
      pos[i] = static_cast<int>(p.size());
    }
    step.n_tokens = static_cast<int>(n);
    if (timed_decode(step) != 0) {
      llama_batch_free(step);
      return fail_all({ErrorCode::kInternal, "llama_decode failed during prefill"});
    }
    for (size_t i = 0; i < n; ++i) seq_tokens_[static_cast<size_t>(seq_of[i])] = group[i]->prompt;
    const double prefill_ms = ms_since(t0);
    const auto td = Clock::now();
    std::vector<SamplerPtr> samplers;
    for (size_t i = 0; i < n; ++i) {
      const GenerationParams& params = *group[i]->params;
      samplers.emplace_back(llama_sampler_chain_init(llama_sampler_chain_default_params()));
      if (params.temperature <= 0.0f) {
        llama_sampler_chain_add(samplers.back().get(), llama_sampler_init_greedy());
      } else {
        llama_sampler_chain_add(samplers.back().get(), llama_sampler_init_temp(params.temperature));
        llama_sampler_chain_add(samplers.back().get(),
                                llama_sampler_init_dist(static_cast<uint32_t>(params.seed)));
      }
    }
    size_t n_active = n;
    while (n_active > 0) {
      int k = 0;
      for (size_t i = 0; i < n; ++i) {
        if (!active[i]) continue;
        if (gen[i].output_tokens >= group[i]->budget) {
          gen[i].truncated = true;
          active[i] = false;
          --n_active;
          done_at[i] = Clock::now();
          continue;
        }
        llama_token t = llama_sampler_sample(samplers[i].get(), ctx_, logits_row[i]);
        if (first[i]) {
          gen[i].ttft_ms = ms_since(t0);
          first[i] = false;
        }
        if (llama_vocab_is_eog(vocab_, t)) {
          active[i] = false;
          --n_active;
          done_at[i] = Clock::now();
          continue;
        }
        gen[i].text += piece(t, false);
        ++gen[i].output_tokens;
        step.token[k] = t;
        step.pos[k] = pos[i]++;
        step.n_seq_id[k] = 1;
        step.seq_id[k][0] = seq_of[i];
        step.logits[k] = 1;
        logits_row[i] = k;
        ++k;
      }
      if (k == 0) break;
      step.n_tokens = k;
      if (timed_decode(step) != 0) {
        llama_batch_free(step);
        return fail_all({ErrorCode::kInternal, "llama_decode failed while generating"});
      }
    }
    llama_batch_free(step);
    for (size_t i = 0; i < n; ++i) {
      gen[i].prefill_ms = prefill_ms;
      gen[i].decode_ms = std::chrono::duration<double, std::milli>(done_at[i] - td).count();
      if (first[i]) gen[i].ttft_ms = ms_since(t0);
      const auto& letters = group[i]->params->constrained_answer_letters;
      if (!letters.empty()) {
        auto letter = constrained_answer(pos[i], letters, seq_of[i]);
        if (!letter) {
          out[group[i]->index] = std::unexpected(letter.error());
          continue;
        }
        gen[i].constrained_answer = *letter;
      }
      out[group[i]->index] = std::move(gen[i]);
    }
  }

  // One token of a log-likelihood batch: it belongs to sequences seq .. seq + n_seqs - 1;
  // `row` says whose logits it yields (an option's index, kFirstRow, or kNoRow for none), and
  // `next` is the token whose probability those logits give.
  static constexpr int kNoRow = -1;
  static constexpr int kFirstRow = -2;
  struct Entry {
    llama_token token;
    int pos;
    llama_seq_id seq;
    int n_seqs;
    int row;
    llama_token next;
  };

  // Decodes the entries in batches of at most n_batch tokens, calling on_logits(entry, logits,
  // n_vocab) for each entry that asked for logits.
  template <typename F>
  Result<void> decode_entries(const std::vector<Entry>& entries, F&& on_logits) {
    const size_t n_batch = llama_n_batch(ctx_);
    const int n_vocab = llama_vocab_n_tokens(vocab_);
    const auto n_seq = static_cast<int32_t>(llama_n_seq_max(ctx_));
    for (size_t i = 0; i < entries.size(); i += n_batch) {
      const size_t n = std::min(n_batch, entries.size() - i);
      llama_batch batch = llama_batch_init(static_cast<int32_t>(n), 0, n_seq);
      for (size_t k = 0; k < n; ++k) {
        const Entry& e = entries[i + k];
        batch.token[k] = e.token;
        batch.pos[k] = e.pos;
        batch.n_seq_id[k] = e.n_seqs;
        for (int q = 0; q < e.n_seqs; ++q) batch.seq_id[k][q] = e.seq + q;
        batch.logits[k] = e.row != kNoRow ? 1 : 0;
      }
      batch.n_tokens = static_cast<int32_t>(n);
      const int rc = timed_decode(batch);
      llama_batch_free(batch);
      if (rc != 0) {
        return make_error(ErrorCode::kInternal, fmt::format("llama_decode failed ({})", rc));
      }
      for (size_t k = 0; k < n; ++k) {
        const Entry& e = entries[i + k];
        if (e.row == kNoRow) continue;
        on_logits(e, llama_get_logits_ith(ctx_, static_cast<int32_t>(k)), n_vocab);
      }
    }
    return {};
  }

  int timed_decode(const llama_batch& batch) {
    const auto t0 = Clock::now();
    int rc = llama_decode(ctx_, batch);
    // On an accelerator (CUDA, RPC) llama_decode returns once the work is queued; without the
    // wait, prefill_ms and engine_ms would stop early and the first sampling would absorb the
    // rest (seen as a 36x "prefill" on an RPC device). A no-op on the CPU.
    if (rc == 0) llama_synchronize(ctx_);
    stats_.engine_ms += ms_since(t0);
    ++stats_.engine_calls;
    stats_.tokens_evaluated += batch.n_tokens;
    return rc;
  }

  Result<std::string> constrained_answer(int pos, const std::vector<std::string>& letters,
                                         llama_seq_id seq = 0) {
    std::vector<llama_token> cue = tokenize("\nAnswer:", false, false);
    if (pos + static_cast<int>(cue.size()) + 4 > static_cast<int>(llama_n_ctx(ctx_))) {
      return make_error(ErrorCode::kResource, "no room left in the context for the answer line");
    }
    if (auto r = decode_tokens(cue, pos, seq); !r) return std::unexpected(r.error());
    pos += static_cast<int>(cue.size());
    std::string alts;
    for (const auto& l : letters) alts += (alts.empty() ? "" : " | ") + fmt::format("\"{}\"", l);
    const std::string grammar = fmt::format("root ::= \" \"? ({})", alts);
    SamplerPtr smpl(llama_sampler_chain_init(llama_sampler_chain_default_params()));
    llama_sampler* g = llama_sampler_init_grammar(vocab_, grammar.c_str(), "root");
    if (g == nullptr) return make_error(ErrorCode::kInternal, "answer grammar failed to compile");
    llama_sampler_chain_add(smpl.get(), g);
    llama_sampler_chain_add(smpl.get(), llama_sampler_init_greedy());
    std::string text;
    for (int i = 0; i < 4; ++i) {
      llama_token t = llama_sampler_sample(smpl.get(), ctx_, -1);
      if (llama_vocab_is_eog(vocab_, t)) break;
      text += piece(t, false);
      bool done = false;
      for (const auto& l : letters) {
        if (text.find(l) != std::string::npos) done = true;
      }
      if (done) break;
      if (auto r = decode_tokens({t}, pos++, seq); !r) return std::unexpected(r.error());
    }
    for (const auto& l : letters) {
      if (text.find(l) != std::string::npos) return l;
    }
    return make_error(ErrorCode::kInternal,
                      fmt::format("constrained answer produced '{}', not a letter", text));
  }

  llama_context* ctx_;
  LlamaChat chat_;
  const llama_vocab* vocab_;
  std::vector<std::vector<llama_token>> seq_tokens_;
  BackendStats stats_;
};

}  // namespace

std::unique_ptr<Backend> make_llama_backend(llama_model* model, llama_context* ctx) {
  return std::make_unique<LlamaBackend>(model, ctx);
}

}  // namespace clinbench
