#include "backend/llama_backend.h"

#include <fmt/format.h>
#include <llama.h>

#include <algorithm>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "backend/llama_engine.h"
#include "backend/llama_loglik.h"
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

  Result<LoglikScores> loglik(
      const std::vector<ChatMessage>& messages, const std::string& assistant_prefix,
      const std::vector<std::pair<std::string, std::string>>& continuations) override {
    return loglik_.score({messages, assistant_prefix, continuations});
  }

  // With per-sequence KV, up to a sequence per item share the decodes; one pool (unified KV)
  // scores one item at a time, as each may need the whole pool.
  std::vector<Result<LoglikScores>> loglik_many(const std::vector<LoglikRequest>& requests,
                                                int width) override {
    const auto group = static_cast<size_t>(std::max(1, std::min(width, engine_.n_seq())));
    if (group == 1 || requests.size() == 1 || engine_.unified()) {
      return Backend::loglik_many(requests, width);
    }
    std::vector<Result<LoglikScores>> out;
    out.reserve(requests.size());
    for (size_t start = 0; start < requests.size(); start += group) {
      const size_t end = std::min(requests.size(), start + group);
      auto part = loglik_.score_group({requests.begin() + static_cast<std::ptrdiff_t>(start),
                                       requests.begin() + static_cast<std::ptrdiff_t>(end)});
      for (auto& r : part) out.push_back(std::move(r));
    }
    return out;
  }

  BackendStats stats() const override { return stats_; }

  int64_t count_tokens(const std::string& text) override {
    return static_cast<int64_t>(chat_.tokenize(text, false, false).size());
  }

 private:
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
  LlamaLoglik loglik_{ctx_, chat_, engine_, held_, stats_, ledger_};
};

}  // namespace

std::unique_ptr<Backend> make_llama_backend(llama_model* model, llama_context* ctx,
                                            energy::Sampler* sampler) {
  return std::make_unique<LlamaBackend>(model, ctx, sampler);
}

}  // namespace clinbench
