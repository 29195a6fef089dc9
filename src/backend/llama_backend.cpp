#include "backend/llama_backend.h"

#include <fmt/format.h>
#include <llama.h>

#include <algorithm>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "backend/llama_engine.h"
#include "backend/log_sum_exp.h"
#include "backend/scheduler.h"
#include "clinbench/energy.h"
#include "model/llama_chat.h"
#include "util/clock.h"

namespace clinbench {

namespace {

// A stream of conversations rendered with the model's template and tokenized on their way to
// the scheduler; one that cannot be rendered fails alone. Replies come back parsed as the
// template's parser reads them: a thinking model's reasoning apart from its answer.
class TokenizingFeed final : public TokenFeed {
 public:
  // `cells`: the KV cells one conversation may use (its sequence's share).
  // `ledger`: where each conversation's energy is settled when it ends (none: not measured).
  TokenizingFeed(GenerationFeed& outer, const LlamaChat& chat, int cells, energy::Ledger* ledger)
      : outer_(outer), chat_(chat), cells_(cells), ledger_(ledger) {}
  std::optional<TokenRequest> next() override {
    while (auto req = outer_.next()) {
      auto prompt = chat_.render_for_reply(req->messages, req->params.thinking);
      if (!prompt) {
        outer_.done(req->id, std::unexpected(prompt.error()));
        continue;
      }
      TokenRequest out{req->id, chat_.tokenize_prompt(prompt->text), std::move(req->params), {}};
      // Replies of a template without thinking read as the scheduler wrote them.
      if (!prompt->reply.plain()) {
        if (prompt->reply.thinks) reasoning_control(prompt->reply, out);
        parsed_.insert_or_assign(out.id, Parsed{std::move(prompt->reply), out.reasoning.budget});
      }
      return out;
    }
    return std::nullopt;
  }
  void done(size_t id, Result<Generation> result, const std::vector<TokenId>& reply) override {
    if (ledger_ != nullptr) {
      const auto joules = ledger_->settle(id, Clock::now());
      if (result) result->energy_j = joules;
    }
    if (auto p = parsed_.find(id); p != parsed_.end()) {
      if (result) {
        read_reply(p->second.format, reply, *result);
        result->reasoning_budget = p->second.budget;
      }
      parsed_.erase(p);
    }
    outer_.done(id, std::move(result));
  }

 private:
  // A thinking turn may think for reasoning_budget tokens beyond max_tokens; the sampler forces
  // the end tag when they are spent. The budget shrinks to what the conversation's cells hold
  // beside its prompt and its answer, so that a long thought still leaves room to answer.
  void reasoning_control(const ReplyFormat& f, TokenRequest& req) const {
    if (req.params.reasoning_budget < 0) return;
    const int room = cells_ - static_cast<int>(req.prompt.size()) - req.params.max_tokens -
                     DecodeEngine::kAnswerReserve;
    const int budget = std::max(0, std::min(req.params.reasoning_budget, room));
    req.params.max_tokens += budget;
    ReasoningControl& rc = req.reasoning;
    rc.budget = budget;
    rc.start = chat_.tokenize(f.thinking_start, false, true);
    for (const auto& e : f.thinking_end) rc.ends.push_back(chat_.tokenize(e, false, true));
    rc.forced = rc.ends.front();
    const ParsedReply before = parse_reply(f, "");  // what the prompt alone left open
    rc.open = before.opened && !before.closed;
  }

  // The reply's text with special tokens, parsed; its reasoning tokens are those whose text
  // overlaps the thinking section.
  void read_reply(const ReplyFormat& f, const std::vector<TokenId>& reply, Generation& g) const {
    std::string raw;
    std::vector<size_t> starts;
    starts.reserve(reply.size());
    for (const TokenId t : reply) {
      starts.push_back(raw.size());
      raw += chat_.piece(t, true);
    }
    ParsedReply p = parse_reply(f, raw);
    g.text = std::move(p.content);
    g.reasoning = std::move(p.reasoning);
    g.thinking = p.opened;
    g.reasoning_closed = p.closed;
    g.reasoning_tokens = 0;
    for (size_t i = 0; p.opened && i < starts.size(); ++i) {
      const size_t end = i + 1 < starts.size() ? starts[i + 1] : raw.size();
      g.reasoning_tokens += end > p.begin && starts[i] < p.end;
    }
  }

  GenerationFeed& outer_;
  const LlamaChat& chat_;
  int cells_;
  energy::Ledger* ledger_;
  // Conversations in flight whose replies are parsed: how, and their thinking budget (-1: none).
  struct Parsed {
    ReplyFormat format;
    int budget = -1;
  };
  std::map<size_t, Parsed> parsed_;
};

// One conversation as a stream of one.
class SingleFeed final : public GenerationFeed {
 public:
  SingleFeed(const std::vector<ChatMessage>& messages, const GenerationParams& params)
      : req_(GenerationRequest{0, messages, params}) {}
  std::optional<GenerationRequest> next() override {
    auto r = std::move(req_);
    req_.reset();
    return r;
  }
  void done(size_t, Result<Generation> result) override { result_ = std::move(result); }
  Result<Generation> take() { return std::move(result_); }

 private:
  std::optional<GenerationRequest> req_;
  Result<Generation> result_ = make_error(ErrorCode::kInternal, "not generated");
};

// What closes a thinking section the prompt left open (DeepSeek-R1's "<think>\n"), so that a
// scored answer follows the thinking instead of sitting inside it; "" when none is open.
std::string closed_thinking(const ReplyFormat& f) {
  if (!f.thinks) return "";
  const ParsedReply open = parse_reply(f, "");
  return open.opened && !open.closed ? f.thinking_end.front() + "\n\n" : "";
}

// The scheduler's decodes, into the energy ledger.
class LedgerSteps final : public StepObserver {
 public:
  explicit LedgerSteps(energy::Ledger& ledger) : ledger_(ledger) {}
  void step(Clock::time_point t, const std::vector<std::pair<size_t, int64_t>>& tokens) override {
    shares_.clear();
    for (const auto& [id, n] : tokens) shares_.emplace_back(id, n);
    ledger_.step(t, shares_);
  }
  void pause(Clock::time_point t) override { ledger_.pause(t); }

 private:
  energy::Ledger& ledger_;
  std::vector<std::pair<uint64_t, int64_t>> shares_;
};

// The ledger's unit for a log-likelihood scoring (which runs alone, outside the scheduler).
constexpr uint64_t kLoglikUnit = ~uint64_t{0};

class LlamaBackend final : public Backend {
 public:
  LlamaBackend(llama_model* model, llama_context* ctx, energy::Sampler* sampler)
      : ctx_(ctx), chat_(model), engine_(ctx, chat_, stats_), held_(llama_n_seq_max(ctx)) {
    llama_memory_clear(llama_get_memory(ctx_), true);  // the warm-up's tokens, say
    if (sampler != nullptr) ledger_.emplace(energy::energy_of(*sampler));
  }

  Result<Generation> generate(const std::vector<ChatMessage>& messages,
                              const GenerationParams& params) override {
    SingleFeed feed(messages, params);
    generate_stream(feed, 1);
    return feed.take();
  }

  void generate_stream(GenerationFeed& feed, int width) override {
    energy::Ledger* ledger = ledger_ ? &*ledger_ : nullptr;
    TokenizingFeed tokens(feed, chat_, engine_.seq_cells(), ledger);
    std::optional<LedgerSteps> steps;
    if (ledger != nullptr) steps.emplace(*ledger);
    stats_.prompt_tokens_reused +=
        run_continuous_batching(engine_, held_, tokens, width, steps ? &*steps : nullptr);
  }

  // The prompt and "Answer:" are evaluated once, in the sequence that holds most of them; each
  // option's continuation then goes into a sequence of its own holding a copy of that prefix
  // (several options per llama_decode, as many as the context has sequences) when the KV is one
  // pool (a copy shares cells), or follows the prefix in its own sequence, one option after
  // another, with per-sequence KV.
  Result<LoglikScores> loglik(
      const std::vector<ChatMessage>& messages, const std::string& assistant_prefix,
      const std::vector<std::pair<std::string, std::string>>& continuations) override {
    const auto t0 = Clock::now();
    if (!ledger_) return score(t0, messages, assistant_prefix, continuations);
    // The scoring runs alone: all its energy is its own.
    ledger_->step(t0, {{kLoglikUnit, 1}});
    auto out = score(t0, messages, assistant_prefix, continuations);
    const auto joules = ledger_->settle(kLoglikUnit, Clock::now());
    if (out) out->energy_j = joules;
    return out;
  }

  BackendStats stats() const override { return stats_; }

  int64_t count_tokens(const std::string& text) override {
    return static_cast<int64_t>(chat_.tokenize(text, false, false).size());
  }

 private:
  Result<LoglikScores> score(
      Clock::time_point t0, const std::vector<ChatMessage>& messages,
      const std::string& assistant_prefix,
      const std::vector<std::pair<std::string, std::string>>& continuations) {
    auto prompt = chat_.render_for_reply(messages, Thinking::kAuto);
    if (!prompt) return std::unexpected(prompt.error());
    const std::vector<llama_token> ptoks =
        chat_.tokenize_prompt(prompt->text + closed_thinking(prompt->reply) + assistant_prefix);
    if (ptoks.empty()) return make_error(ErrorCode::kInvalidArgument, "the prompt is empty");
    LoglikScores out;
    out.prompt_tokens = static_cast<int64_t>(ptoks.size());
    auto conts = continuation_tokens(ptoks.size(), continuations, out);
    if (!conts) return std::unexpected(conts.error());

    const int best = best_sequence(ptoks);
    // One pool for all sequences: what the others hold (earlier prompts and options) would take
    // the cells this item's options need.
    if (engine_.unified()) {
      for (int q = 0; q < engine_.n_seq(); ++q) {
        if (q == best) continue;
        engine_.truncate(q, 0);
        held_[static_cast<size_t>(q)].clear();
      }
    }
    const auto n_prefix = static_cast<int>(ptoks.size());
    int kept = static_cast<int>(std::min(common_prefix(held_[best], ptoks), ptoks.size() - 1));
    if (!engine_.truncate(best, kept)) kept = 0;
    held_[best].resize(static_cast<size_t>(kept));
    stats_.prompt_tokens_reused += kept;
    if (auto r = engine_.decode_run({ptoks.begin() + kept, ptoks.end()}, kept, best); !r) {
      return fail(r.error());
    }
    held_[best] = ptoks;
    // Every option's first token, from the distribution after the prefix.
    const int n_vocab = llama_vocab_n_tokens(chat_.vocab());
    const float* first = llama_get_logits_ith(ctx_, -1);
    const double first_lse = log_sum_exp(first, n_vocab);
    for (size_t o = 0; o < conts->size(); ++o) {
      out.options[o].logprob += static_cast<double>(first[(*conts)[o][0]]) - first_lse;
    }
    out.prefill_ms = ms_since(t0);
    if (auto r = score_continuations(best, n_prefix, *conts, out); !r) return fail(r.error());
    out.continuation_ms = ms_since(t0) - out.prefill_ms;
    return out;
  }

  // Each continuation's tokens, checked against the context; fills out.options.
  Result<std::vector<std::vector<llama_token>>> continuation_tokens(
      size_t n_prefix, const std::vector<std::pair<std::string, std::string>>& continuations,
      LoglikScores& out) {
    const int cells = engine_.seq_cells();
    std::vector<std::vector<llama_token>> conts;
    for (const auto& [letter, text] : continuations) {
      std::vector<llama_token> ct = chat_.tokenize(text, false, false);
      if (ct.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("option {} tokenizes to nothing", letter));
      }
      if (static_cast<int>(n_prefix + ct.size()) > cells) {
        return make_error(ErrorCode::kResource,
                          fmt::format("prompt and option {} ({} tokens) exceed the context of {}",
                                      letter, n_prefix + ct.size(), cells));
      }
      OptionScore sc;
      sc.letter = letter;
      sc.tokens = static_cast<int64_t>(ct.size());
      out.options.push_back(sc);
      conts.push_back(std::move(ct));
    }
    return conts;
  }

  // The sequence whose KV holds the longest prefix of toks (the lowest on a tie).
  int best_sequence(const std::vector<llama_token>& toks) const {
    int best = 0;
    size_t best_len = 0;
    for (size_t q = 0; q < held_.size(); ++q) {
      const size_t len = common_prefix(held_[q], toks);
      if (len > best_len) {
        best = static_cast<int>(q);
        best_len = len;
      }
    }
    return best;
  }

  // The options' tokens after the first, as many options per round as there are sequences:
  // `prefix_seq` and the others, each holding a copy of the prefix.
  Result<void> score_continuations(int prefix_seq, int n_prefix,
                                   const std::vector<std::vector<llama_token>>& conts,
                                   LoglikScores& out) {
    std::vector<int> seqs{prefix_seq};
    // With per-sequence KV a copy moves the whole stream (every cell of the sequence's share), and
    // one option after another in the prefix's own sequence measured faster: 806 ms against 889
    // ms per item (30 MMLU items, llama-300m q4_0, 8 sequences of 4096 cells, 2 cores).
    for (int q = 0; q < engine_.n_seq() && engine_.unified(); ++q) {
      if (q != prefix_seq) seqs.push_back(q);
    }
    const int n_vocab = llama_vocab_n_tokens(chat_.vocab());
    const auto n_batch = static_cast<size_t>(engine_.n_batch());
    for (size_t start = 0; start < conts.size(); start += seqs.size()) {
      const size_t end = std::min(conts.size(), start + seqs.size());
      std::vector<BatchToken> entries;
      std::vector<std::pair<size_t, llama_token>> next;  // per entry: option, token scored
      for (size_t o = start; o < end; ++o) {
        const int q = seqs[o - start];
        if (q == prefix_seq) {
          engine_.truncate(q, n_prefix);
        } else {
          engine_.copy_prefix(prefix_seq, q, n_prefix);
          held_[static_cast<size_t>(q)] = held_[static_cast<size_t>(prefix_seq)];
        }
        const auto& ct = conts[o];
        for (size_t i = 0; i + 1 < ct.size(); ++i) {
          entries.push_back({ct[i], n_prefix + static_cast<int32_t>(i), q, true});
          next.emplace_back(o, ct[i + 1]);
        }
      }
      for (size_t i = 0; i < entries.size(); i += n_batch) {
        const size_t n = std::min(n_batch, entries.size() - i);
        const std::vector<BatchToken> chunk(entries.begin() + static_cast<std::ptrdiff_t>(i),
                                            entries.begin() + static_cast<std::ptrdiff_t>(i + n));
        if (auto r = engine_.decode(chunk); !r) return r;
        for (size_t k = 0; k < n; ++k) {
          const float* logits = llama_get_logits_ith(ctx_, static_cast<int32_t>(k));
          const auto& [o, tok] = next[i + k];
          out.options[o].logprob += static_cast<double>(logits[tok]) - log_sum_exp(logits, n_vocab);
        }
      }
    }
    return {};
  }

  // After a failed decode nothing in the cache is trusted.
  std::unexpected<Error> fail(const Error& e) {
    engine_.clear();
    for (auto& h : held_) h.clear();
    return std::unexpected(e);
  }

  llama_context* ctx_;
  LlamaChat chat_;
  BackendStats stats_;
  LlamaEngine engine_;
  // Prompt cache. held_[s] are the tokens whose KV sequence s holds at positions 0..n-1: the
  // last prompt evaluated there. Not its reply: the reply's KV, computed one token at a time,
  // differs in the last digits from a prefill of the same tokens, and keeping it made runs with
  // and without parallel sequences agree less (RunEndToEnd.ParallelSequences...: 7 of 10
  // identical replies instead of at least 8). A new prompt keeps its longest common prefix with
  // them and evaluates only the rest, as llama-server's slots do: every item's prompt starts
  // with the same chat-template header and system prompt.
  HeldTokens held_;
  std::optional<energy::Ledger> ledger_;  // with a sampler: each conversation's energy
};

}  // namespace

std::unique_ptr<Backend> make_llama_backend(llama_model* model, llama_context* ctx,
                                            energy::Sampler* sampler) {
  return std::make_unique<LlamaBackend>(model, ctx, sampler);
}

}  // namespace clinbench
