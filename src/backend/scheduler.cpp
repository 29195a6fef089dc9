#include "backend/scheduler.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "util/clock.h"

namespace clinbench {

size_t common_prefix(const std::vector<TokenId>& a, const std::vector<TokenId>& b) {
  const size_t n = std::min(a.size(), b.size());
  return static_cast<size_t>(
      std::mismatch(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(n), b.begin()).first -
      a.begin());
}

namespace {

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

enum class Phase {
  kIdle,     // no conversation; its sequence keeps its last prompt for the next
  kWaiting,  // waits for another slot to compute a prefix it will copy
  kPrefill,  // its prompt goes into the batches, a chunk at a time
  kDecode,   // generating, one token per batch
};

// One sequence of the context and the conversation it carries.
struct Slot {
  int seq = 0;
  Phase phase = Phase::kIdle;
  TokenRequest req;
  int budget = 0;    // reply tokens it may write
  int reserved = 0;  // KV cells it may come to use: prompt, budget, answer line
  int leader = -1;   // kWaiting: the slot computing the prefix, the request there, its length
  size_t leader_id = 0;
  size_t share = 0;
  int pos = 0;   // the next position to write
  int row = -1;  // its logits in the last batch
  bool has_next = false;
  TokenId next = 0;  // sampled, to decode next
  std::unique_ptr<TokenSampler> sampler;
  Generation gen;
  std::vector<TokenId> reply;
  bool sampled = false;
  bool finished = false;
  Clock::time_point admitted, prefilled;
  double width_sum = 0;
  int64_t steps = 0;
};

class Scheduler {
 public:
  Scheduler(DecodeEngine& engine, HeldTokens& held, TokenFeed& feed, int width,
            StepObserver* observer)
      : e_(engine), held_(held), feed_(feed), observer_(observer) {
    const int n_seq = engine.n_seq();
    width_ = std::clamp(width, 1, n_seq);
    held_.resize(static_cast<size_t>(n_seq));
    slots_.resize(static_cast<size_t>(n_seq));
    for (int s = 0; s < n_seq; ++s) slots_[static_cast<size_t>(s)].seq = s;
  }

  void run() {
    while (true) {
      admit();
      if (busy() == 0) break;
      step();
    }
    if (observer_ != nullptr) observer_->pause(Clock::now());
  }

  // Tells the observer what a batch carries, per conversation.
  void observe(const std::vector<BatchToken>& batch) {
    if (observer_ == nullptr) return;
    std::vector<int64_t> per_seq(slots_.size(), 0);
    for (const BatchToken& t : batch) ++per_seq[static_cast<size_t>(t.seq)];
    std::vector<std::pair<size_t, int64_t>> tokens;
    for (const Slot& s : slots_) {
      const int64_t n = per_seq[static_cast<size_t>(s.seq)];
      if (n > 0) tokens.emplace_back(s.req.id, n);
    }
    observer_->step(Clock::now(), tokens);
  }

 private:
  int busy() const {
    int n = 0;
    for (const Slot& s : slots_) n += s.phase != Phase::kIdle;
    return n;
  }
  std::vector<TokenId>& held(const Slot& s) { return held_[static_cast<size_t>(s.seq)]; }

  // The next request that can run at all; the others fail here, one by one.
  std::optional<TokenRequest> next_runnable() {
    while (auto req = feed_.next()) {
      const int cells = e_.seq_cells();
      const int reserve =
          req->params.constrained_answer_letters.empty() ? 0 : DecodeEngine::kAnswerReserve;
      if (req->prompt.empty()) {
        feed_.done(req->id, make_error(ErrorCode::kInvalidArgument, "the prompt is empty"), {});
        continue;
      }
      if (static_cast<int>(req->prompt.size()) + reserve >= cells) {
        feed_.done(req->id,
                   make_error(ErrorCode::kResource,
                              fmt::format("prompt of {} tokens does not fit the context "
                                          "of {}",
                                          req->prompt.size(), cells)),
                   {});
        continue;
      }
      return req;
    }
    return std::nullopt;
  }

  // KV cells in use (unified pool): reserved by conversations, held by idle sequences.
  int cells_used(const Slot* except) const {
    int n = 0;
    for (const Slot& s : slots_) {
      if (&s == except) continue;
      n += s.phase == Phase::kIdle ? static_cast<int>(held_[static_cast<size_t>(s.seq)].size())
                                   : s.reserved;
    }
    return n;
  }

  // Frees the cells of idle sequences (their cached prompts), largest first, until `need` more
  // fit the pool. False when they still do not.
  bool make_room(const Slot& chosen, int need) {
    while (cells_used(&chosen) + need > e_.seq_cells()) {
      Slot* victim = nullptr;
      for (Slot& s : slots_) {
        if (&s == &chosen || s.phase != Phase::kIdle || held(s).empty()) continue;
        if (victim == nullptr || held(s).size() > held(*victim).size()) victim = &s;
      }
      if (victim == nullptr) return false;
      e_.truncate(victim->seq, 0);
      held(*victim).clear();
    }
    return true;
  }

  // The idle slot whose sequence holds the longest prefix of the prompt (lowest on a tie).
  Slot* choose(const std::vector<TokenId>& prompt) {
    Slot* best = nullptr;
    size_t best_len = 0;
    for (Slot& s : slots_) {
      if (s.phase != Phase::kIdle) continue;
      const size_t len = common_prefix(held(s), prompt);
      if (best == nullptr || len > best_len) {
        best = &s;
        best_len = len;
      }
    }
    return best;
  }

  void admit() {
    while (busy() < width_) {
      if (!pending_) pending_ = next_runnable();
      if (!pending_) return;
      Slot* slot = choose(pending_->prompt);
      const int reserve =
          pending_->params.constrained_answer_letters.empty() ? 0 : DecodeEngine::kAnswerReserve;
      const int prompt = static_cast<int>(pending_->prompt.size());
      const int budget = std::min(pending_->params.max_tokens, e_.seq_cells() - prompt - reserve);
      const int need = prompt + std::max(0, budget) + reserve;
      // A unified pool takes a conversation only when its whole budget fits beside the others;
      // until then it waits for one of them to end.
      if (e_.unified() && !make_room(*slot, need)) return;
      start(*slot, std::move(*pending_), budget, need);
      pending_.reset();
    }
  }

  void start(Slot& s, TokenRequest req, int budget, int need) {
    s.req = std::move(req);
    s.budget = budget;
    s.reserved = need;
    s.leader = -1;
    s.share = 0;
    s.pos = 0;
    s.row = -1;
    s.has_next = false;
    s.sampled = false;
    s.finished = false;
    s.gen = Generation{};
    s.gen.prompt_tokens = static_cast<int64_t>(s.req.prompt.size());
    s.width_sum = 0;
    s.steps = 0;
    s.sampler = e_.sampler(s.req);
    s.admitted = Clock::now();
    const auto& prompt = s.req.prompt;
    // What the sequence holds of this prompt stays, but never the last token: its logits are
    // needed.
    size_t keep = std::min(common_prefix(held(s), prompt), prompt.size() - 1);
    if (!e_.truncate(s.seq, static_cast<int>(keep))) keep = 0;
    held(s).resize(keep);
    s.phase = Phase::kPrefill;
    // A longer prefix another sequence holds is copied; one it is computing is waited for.
    Slot* from = nullptr;
    size_t from_len = keep + kMinSharedPrefix - 1;
    for (Slot& o : slots_) {
      if (&o == &s) continue;
      const size_t len = std::min(common_prefix(held(o), prompt), prompt.size() - 1);
      if (len > from_len) {
        from = &o;
        from_len = len;
      }
    }
    if (from != nullptr) {
      e_.copy_prefix(from->seq, s.seq, static_cast<int>(from_len));
      held(s).assign(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(from_len));
      keep = from_len;
    } else {
      for (size_t i = 0; i < slots_.size(); ++i) {
        const Slot& o = slots_[i];
        if (&o == &s || o.phase != Phase::kPrefill) continue;
        const size_t len = std::min(common_prefix(o.req.prompt, prompt), prompt.size() - 1);
        if (len >= keep + kMinSharedPrefix && len > s.share) {
          s.phase = Phase::kWaiting;
          s.leader = static_cast<int>(i);
          s.leader_id = o.req.id;
          s.share = len;
        }
      }
    }
    reused_ += static_cast<int64_t>(keep);
    s.gen.prompt_cached_tokens = static_cast<int64_t>(keep);
  }

  // Waiting slots whose leader has computed the shared prefix copy it and go on; those whose
  // leader is gone compute it themselves.
  void resolve_waiting() {
    for (Slot& s : slots_) {
      if (s.phase != Phase::kWaiting) continue;
      const Slot& l = slots_[static_cast<size_t>(s.leader)];
      if (l.phase != Phase::kIdle && l.req.id == s.leader_id && held(l).size() >= s.share) {
        e_.copy_prefix(l.seq, s.seq, static_cast<int>(s.share));
        held(s).assign(s.req.prompt.begin(),
                       s.req.prompt.begin() + static_cast<std::ptrdiff_t>(s.share));
        reused_ += static_cast<int64_t>(s.share);
        s.gen.prompt_cached_tokens = static_cast<int64_t>(s.share);
        s.phase = Phase::kPrefill;
      } else if (l.phase != Phase::kPrefill || l.req.id != s.leader_id) {
        s.phase = Phase::kPrefill;
      }
      if (s.phase == Phase::kPrefill) s.share = 0;
    }
  }

  // One decode: a token of every generating conversation, then prompt chunks while room lasts.
  void step() {
    resolve_waiting();
    std::vector<BatchToken> batch;
    const auto n_batch = static_cast<size_t>(std::max(1, e_.n_batch()));
    for (Slot& s : slots_) {
      s.row = -1;
      // (More generating than a batch holds: the rest go in the next step.)
      if (s.phase != Phase::kDecode || !s.has_next || batch.size() >= n_batch) continue;
      s.row = static_cast<int>(batch.size());
      batch.push_back({s.next, s.pos++, s.seq, true});
      s.has_next = false;
    }
    std::vector<std::pair<Slot*, size_t>> chunks;
    for (Slot* s : prefill_order()) {
      if (batch.size() >= n_batch) break;
      const auto& prompt = s->req.prompt;
      const size_t from = held(*s).size();
      const size_t n = std::min(n_batch - batch.size(), prompt.size() - from);
      for (size_t k = from; k < from + n; ++k) {
        if (k + 1 == prompt.size()) s->row = static_cast<int>(batch.size());
        batch.push_back({prompt[k], static_cast<int32_t>(k), s->seq, k + 1 == prompt.size()});
      }
      chunks.emplace_back(s, n);
    }
    if (batch.empty()) {  // nothing to decode but waiting slots: they compute it themselves
      for (Slot& s : slots_) {
        if (s.phase == Phase::kWaiting) s.phase = Phase::kPrefill;
      }
      return;
    }
    in_sequence_order(batch);
    observe(batch);
    if (auto r = e_.decode(batch); !r) return fail_all(r.error());
    for (auto& [s, n] : chunks) {
      const auto& prompt = s->req.prompt;
      const size_t from = held(*s).size();
      held(*s).insert(held(*s).end(), prompt.begin() + static_cast<std::ptrdiff_t>(from),
                      prompt.begin() + static_cast<std::ptrdiff_t>(from + n));
      if (held(*s).size() == prompt.size()) {
        s->phase = Phase::kDecode;
        s->pos = static_cast<int>(prompt.size());
        s->prefilled = Clock::now();
        s->gen.prefill_ms = ms_between(s->admitted, s->prefilled);
      }
    }
    int rows = 0;
    for (const Slot& s : slots_) rows += s.row >= 0;
    for (Slot& s : slots_) {
      if (s.row < 0) continue;
      s.width_sum += rows;
      ++s.steps;
      sample(s);
    }
    // Only now: an answer line decodes on its own, and the rows above are read.
    for (Slot& s : slots_) {
      if (s.phase != Phase::kIdle && s.finished) finish(s);
    }
  }

  // Orders the batch by sequence (each sequence's tokens keep their order) and moves the slots'
  // rows with it. With per-sequence KV llama.cpp cuts a batch into micro-batches of consecutive
  // sequence ids taking equally many tokens of each, so a prompt chunk appended after the others'
  // next tokens would cost a micro-batch more: each one a pass over the weights.
  void in_sequence_order(std::vector<BatchToken>& batch) {
    const auto by_seq = [](const BatchToken& a, const BatchToken& b) { return a.seq < b.seq; };
    if (std::is_sorted(batch.begin(), batch.end(), by_seq)) return;  // decode-only steps
    std::vector<size_t> order(batch.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return batch[a].seq < batch[b].seq; });
    std::vector<BatchToken> sorted;
    sorted.reserve(batch.size());
    std::vector<int> moved(batch.size());
    for (size_t k = 0; k < order.size(); ++k) {
      moved[order[k]] = static_cast<int>(k);
      sorted.push_back(batch[order[k]]);
    }
    for (Slot& s : slots_) {
      if (s.row >= 0) s.row = moved[static_cast<size_t>(s.row)];
    }
    batch = std::move(sorted);
  }

  // Slots with prompt left to compute, in the order they were admitted.
  std::vector<Slot*> prefill_order() {
    std::vector<Slot*> out;
    for (Slot& s : slots_) {
      if (s.phase == Phase::kPrefill) out.push_back(&s);
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const Slot* a, const Slot* b) { return a->admitted < b->admitted; });
    return out;
  }

  void sample(Slot& s) {
    if (s.gen.output_tokens >= s.budget) {
      s.gen.truncated = true;
      s.finished = true;
      return;
    }
    const TokenId t = s.sampler->sample(s.row);
    if (!s.sampled) {
      s.gen.ttft_ms = ms_since(s.admitted);
      s.sampled = true;
    }
    if (e_.is_eog(t)) {
      s.finished = true;
      return;
    }
    s.gen.text += e_.piece(t);
    s.reply.push_back(t);
    ++s.gen.output_tokens;
    // The budget's last token ends the reply now: decoding it would compute logits nobody reads,
    // unless an answer line follows, which goes on from the token's KV.
    if (s.gen.output_tokens >= s.budget && s.req.params.constrained_answer_letters.empty()) {
      s.gen.truncated = true;
      s.finished = true;
      return;
    }
    s.next = t;
    s.has_next = true;
  }

  void finish(Slot& s) {
    Generation& g = s.gen;
    g.decode_ms = ms_since(s.prefilled);
    if (!s.sampled) g.ttft_ms = ms_since(s.admitted);
    g.batch_width = s.steps > 0 ? s.width_sum / static_cast<double>(s.steps) : 1.0;
    Result<Generation> result = std::move(g);
    const auto& letters = s.req.params.constrained_answer_letters;
    if (!letters.empty()) {
      if (observer_ != nullptr) observer_->step(Clock::now(), {{s.req.id, 1}});
      auto letter = e_.constrained_answer(s.seq, s.pos, letters);
      if (letter) {
        result->constrained_answer = *letter;
      } else {
        result = std::unexpected(letter.error());
      }
    }
    // The reply's KV goes: the sequence keeps its prompt for the next conversation.
    if (!e_.truncate(s.seq, static_cast<int>(s.req.prompt.size()))) held(s).clear();
    end(s, std::move(result));
  }

  void end(Slot& s, Result<Generation> result) {
    s.phase = Phase::kIdle;
    s.finished = false;
    s.sampler.reset();
    const size_t id = s.req.id;
    s.req.prompt.clear();
    std::vector<TokenId> reply = std::move(s.reply);
    s.reply.clear();
    feed_.done(id, std::move(result), reply);
  }

  // A failed decode: every conversation in flight fails with it, and no cached KV is trusted.
  void fail_all(const Error& error) {
    e_.clear();
    for (auto& h : held_) h.clear();
    for (Slot& s : slots_) {
      if (s.phase != Phase::kIdle) end(s, std::unexpected(error));
    }
  }

 public:
  int64_t reused() const { return reused_; }

 private:
  DecodeEngine& e_;
  HeldTokens& held_;
  TokenFeed& feed_;
  StepObserver* observer_;
  int width_ = 1;
  std::vector<Slot> slots_;
  std::optional<TokenRequest> pending_;  // taken from the feed, waiting for room
  int64_t reused_ = 0;
};

}  // namespace

int64_t run_continuous_batching(DecodeEngine& engine, HeldTokens& held, TokenFeed& feed, int width,
                                StepObserver* observer) {
  Scheduler s(engine, held, feed, width, observer);
  s.run();
  return s.reused();
}

}  // namespace clinbench
