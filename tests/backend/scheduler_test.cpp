// The continuous-batching scheduler against a scripted engine: a "model" whose reply to a prompt
// is fixed by the prompt's last token (its length) and whose KV is checked at every decode, so a
// wrong position, a lost prefix or a reply in the wrong sequence fails here, without llama.cpp.
#include "backend/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <set>

namespace clinbench {
namespace {

constexpr TokenId kEog = 999;
constexpr TokenId kReplyBase = 1000;  // reply tokens are kReplyBase + their index in the reply

class ScriptedEngine;

class ScriptedSampler final : public TokenSampler {
 public:
  explicit ScriptedSampler(ScriptedEngine& e) : e_(e) {}
  TokenId sample(int row) override;

 private:
  ScriptedEngine& e_;
};

// n_seq sequences of `cells` each (per-sequence), or one pool of `cells` (unified).
class ScriptedEngine final : public DecodeEngine {
 public:
  ScriptedEngine(int n_seq, int n_batch, int cells, bool unified)
      : n_seq_(n_seq), n_batch_(n_batch), cells_(cells), unified_(unified), kv_(n_seq) {}

  int n_seq() const override { return n_seq_; }
  int n_batch() const override { return n_batch_; }
  int seq_cells() const override { return cells_; }
  bool unified() const override { return unified_; }

  Result<void> decode(const std::vector<BatchToken>& batch) override {
    ++calls;
    if (fail_at_call == calls) return make_error(ErrorCode::kInternal, "scripted decode failure");
    EXPECT_LE(static_cast<int>(batch.size()), n_batch_);
    // In sequence order, as llama.cpp's per-sequence KV cuts batches best (scheduler.cpp).
    for (size_t i = 1; i < batch.size(); ++i) {
      EXPECT_LE(batch[i - 1].seq, batch[i].seq) << "call " << calls << " token " << i;
    }
    std::set<int> decoding;
    for (const BatchToken& t : batch) {
      auto& kv = kv_[static_cast<size_t>(t.seq)];
      // Positions follow on from what the sequence holds: nothing skipped, nothing overwritten.
      EXPECT_EQ(t.pos, static_cast<int>(kv.size())) << "seq " << t.seq;
      kv.push_back(t.token);
      if (t.token >= kReplyBase) decoding.insert(t.seq);
      if (t.token < kReplyBase) ++prompt_tokens_decoded;
      EXPECT_LE(static_cast<int>(kv.size()), cells_) << "seq " << t.seq;
    }
    int used = 0;
    for (const auto& kv : kv_) used += static_cast<int>(kv.size());
    if (unified_) {
      EXPECT_LE(used, cells_);
    }
    max_decoding = std::max(max_decoding, static_cast<int>(decoding.size()));
    last_batch_ = batch;
    batches.push_back(batch);
    return {};
  }
  std::unique_ptr<TokenSampler> sampler(const TokenRequest&) override {
    return std::make_unique<ScriptedSampler>(*this);
  }
  bool is_eog(TokenId t) const override { return t == kEog; }
  std::string piece(TokenId t) override { return std::to_string(t) + " "; }
  bool truncate(int seq, int n) override {
    auto& kv = kv_[static_cast<size_t>(seq)];
    if (static_cast<int>(kv.size()) > n) kv.resize(static_cast<size_t>(n));
    return true;
  }
  void copy_prefix(int src, int dst, int n) override {
    ++copies;
    const auto& from = kv_[static_cast<size_t>(src)];
    EXPECT_LE(n, static_cast<int>(from.size()));
    kv_[static_cast<size_t>(dst)].assign(from.begin(), from.begin() + n);
  }
  void clear() override {
    for (auto& kv : kv_) kv.clear();
  }
  Result<std::string> constrained_answer(int seq, int pos,
                                         const std::vector<std::string>& letters) override {
    EXPECT_EQ(pos, static_cast<int>(kv_[static_cast<size_t>(seq)].size()));
    if (letters.front() == "fail")
      return make_error(ErrorCode::kInternal, "scripted answer failure");
    kv_[static_cast<size_t>(seq)].push_back(kEog - 1);  // the cue
    return letters.front();
  }

  // The scripted model: a prompt ending in L gets the reply kReplyBase, kReplyBase + 1, ...
  // of L tokens, then end of generation.
  TokenId next_for_row(int row) {
    EXPECT_GE(row, 0);
    EXPECT_LT(row, static_cast<int>(last_batch_.size()));
    const BatchToken& t = last_batch_[static_cast<size_t>(row)];
    EXPECT_TRUE(t.logits);
    const auto& kv = kv_[static_cast<size_t>(t.seq)];
    EXPECT_EQ(t.pos + 1, static_cast<int>(kv.size()));
    auto first_reply =
        std::find_if(kv.begin(), kv.end(), [](TokenId x) { return x >= kReplyBase; });
    const auto prompt_len = static_cast<size_t>(first_reply - kv.begin());
    const TokenId want = kv[prompt_len - 1];
    const auto written = static_cast<TokenId>(kv.size() - prompt_len);
    // The reply so far is the script's: the KV carries this conversation and no other.
    for (size_t i = prompt_len; i < kv.size(); ++i) {
      EXPECT_EQ(kv[i], kReplyBase + static_cast<TokenId>(i - prompt_len));
    }
    return written < want ? kReplyBase + written : kEog;
  }

  int calls = 0;
  int fail_at_call = -1;
  int copies = 0;
  int max_decoding = 0;
  int64_t prompt_tokens_decoded = 0;
  std::vector<std::vector<BatchToken>> batches;

 private:
  int n_seq_, n_batch_, cells_;
  bool unified_;
  std::vector<std::vector<TokenId>> kv_;
  std::vector<BatchToken> last_batch_;
};

TokenId ScriptedSampler::sample(int row) { return e_.next_for_row(row); }

// A prompt: a shared header of `header` tokens, the conversation's tag, then its reply length.
std::vector<TokenId> prompt(int tag, int reply_len, int header = 20) {
  std::vector<TokenId> p;
  for (int i = 0; i < header; ++i) p.push_back(1 + i);
  p.push_back(100 + tag);
  p.push_back(reply_len);
  return p;
}

// Requests in order; results by id. `on_done` may queue more (a second turn).
class ListFeed final : public TokenFeed {
 public:
  std::optional<TokenRequest> next() override {
    if (queue.empty()) return std::nullopt;
    TokenRequest r = std::move(queue.front());
    queue.pop_front();
    return r;
  }
  void done(size_t id, Result<Generation> result, const std::vector<TokenId>& reply) override {
    order.push_back(id);
    replies[id] = reply;
    results.emplace(id, std::move(result));
    if (on_done) on_done(id, results.at(id));
  }
  void add(size_t id, std::vector<TokenId> p, int max_tokens = 100,
           std::vector<std::string> letters = {}) {
    TokenRequest r;
    r.id = id;
    r.prompt = std::move(p);
    r.params.max_tokens = max_tokens;
    r.params.constrained_answer_letters = std::move(letters);
    queue.push_back(std::move(r));
  }
  std::deque<TokenRequest> queue;
  std::map<size_t, Result<Generation>> results;
  std::map<size_t, std::vector<TokenId>> replies;  // the tokens each generated
  std::vector<size_t> order;
  std::function<void(size_t, const Result<Generation>&)> on_done;
};

TEST(Scheduler, AdmitsTheNextItemAsSoonAsOneEnds) {
  ScriptedEngine e(4, 64, 256, false);
  ListFeed feed;
  const std::vector<int> lengths = {40, 3, 5, 30, 2, 7, 4, 6, 9, 1};
  for (size_t i = 0; i < lengths.size(); ++i) feed.add(i, prompt(static_cast<int>(i), lengths[i]));
  HeldTokens held;
  run_continuous_batching(e, held, feed, 4);
  ASSERT_EQ(feed.results.size(), lengths.size());
  for (size_t i = 0; i < lengths.size(); ++i) {
    const auto& g = feed.results.at(i);
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_EQ(g->output_tokens, lengths[i]) << "item " << i;
    // The reply's own tokens go back with it (the backend parses them), end token excluded.
    std::vector<TokenId> want;
    for (int k = 0; k < lengths[i]; ++k) want.push_back(kReplyBase + k);
    EXPECT_EQ(feed.replies.at(i), want) << "item " << i;
    EXPECT_FALSE(g->truncated);
    EXPECT_EQ(g->prompt_tokens, 22);
    EXPECT_GE(g->batch_width, 1.0);
    EXPECT_LE(g->batch_width, 4.0);
  }
  EXPECT_LE(e.max_decoding, 4);
  // The long replies (40 and 30 tokens) do not hold the others back: every short item finished
  // before the 40-token one, and all ten took about as many decodes as the longest reply.
  EXPECT_EQ(feed.order.back(), 0u);
  EXPECT_LT(e.calls, 40 + 10);
  // Some batch mixes a newly admitted prompt with replies being decoded.
  bool mixed = false;
  for (const auto& b : e.batches) {
    bool reply = false, prompt_tok = false;
    for (const auto& t : b) (t.token >= kReplyBase ? reply : prompt_tok) = true;
    mixed = mixed || (reply && prompt_tok);
  }
  EXPECT_TRUE(mixed);
}

// What the observer hears: one step per decode, each conversation's tokens in it exactly as the
// batch carried them, the answer line as a step of its own, a pause at the end.
class RecordingObserver final : public StepObserver {
 public:
  void step(Clock::time_point t, const std::vector<std::pair<size_t, int64_t>>& tokens) override {
    EXPECT_GE(t, last);
    last = t;
    steps.push_back(tokens);
  }
  void pause(Clock::time_point t) override {
    EXPECT_GE(t, last);
    ++pauses;
  }
  Clock::time_point last{};
  std::vector<std::vector<std::pair<size_t, int64_t>>> steps;
  int pauses = 0;
};

TEST(Scheduler, TheObserverHearsEachDecodesTokensPerConversation) {
  ScriptedEngine e(3, 16, 256, false);
  ListFeed feed;
  const std::vector<int> lengths = {5, 2, 8, 3};
  for (size_t i = 0; i < lengths.size(); ++i) {
    feed.add(i, prompt(static_cast<int>(i), lengths[i]), 100,
             i == 1 ? std::vector<std::string>{"A", "B"} : std::vector<std::string>{});
  }
  HeldTokens held;
  RecordingObserver obs;
  run_continuous_batching(e, held, feed, 3, &obs);
  EXPECT_EQ(obs.pauses, 1);
  // Every decode of the scheduler is a step with its tokens, and conversation 1's answer line
  // is one more step, its own (the engine decodes it inside constrained_answer).
  ASSERT_EQ(obs.steps.size(), e.batches.size() + 1);
  // (Conversation 1, 2 tokens long, always decodes beside others: a step carrying its one token
  // alone is its answer line.)
  const std::vector<std::pair<size_t, int64_t>> answer_line = {{1, 1}};
  EXPECT_EQ(std::count(obs.steps.begin(), obs.steps.end(), answer_line), 1);
  size_t b = 0;
  std::map<size_t, int64_t> tokens;
  for (const auto& st : obs.steps) {
    if (st == answer_line) continue;
    ASSERT_LT(b, e.batches.size());
    int64_t in_step = 0;
    for (const auto& [id, n] : st) {
      tokens[id] += n;
      in_step += n;
    }
    EXPECT_EQ(in_step, static_cast<int64_t>(e.batches[b].size())) << "step " << b;
    ++b;
  }
  // Each conversation's tokens over the steps: the prompt part it computed plus its reply
  // tokens decoded (the last sampled token is not decoded: an end or the budget).
  int64_t all = 0;
  for (const auto& [id, n] : tokens) all += n;
  int64_t decoded = 0;
  for (const auto& batch : e.batches) decoded += static_cast<int64_t>(batch.size());
  EXPECT_EQ(all, decoded);
  for (size_t i = 0; i < lengths.size(); ++i) EXPECT_GT(tokens[i], lengths[i]) << i;
}

// More conversations generating than one batch holds: the rest wait for the next step.
TEST(Scheduler, MoreGeneratingThanABatchHolds) {
  ScriptedEngine e(4, 2, 256, false);  // batches of 2 tokens, 4 in flight
  ListFeed feed;
  for (size_t i = 0; i < 6; ++i) feed.add(i, prompt(static_cast<int>(i), 3 + static_cast<int>(i)));
  HeldTokens held;
  run_continuous_batching(e, held, feed, 4);
  for (size_t i = 0; i < 6; ++i) {
    ASSERT_TRUE(feed.results.at(i)) << feed.results.at(i).error().message;
    EXPECT_EQ(feed.results.at(i)->output_tokens, 3 + static_cast<int>(i));
  }
  for (const auto& b : e.batches) EXPECT_LE(b.size(), 2u);
}

TEST(Scheduler, SharedHeaderIsComputedOnceAndCopied) {
  ScriptedEngine e(4, 512, 256, false);
  ListFeed feed;
  for (size_t i = 0; i < 4; ++i) feed.add(i, prompt(static_cast<int>(i), 3, 30));
  HeldTokens held;
  const int64_t reused = run_continuous_batching(e, held, feed, 4);
  for (size_t i = 0; i < 4; ++i) ASSERT_TRUE(feed.results.at(i));
  // One conversation computes the 30-token header; the three others copy it and compute only
  // their own two tokens.
  EXPECT_EQ(e.prompt_tokens_decoded, 32 + 3 * 2);
  EXPECT_EQ(e.copies, 3);
  EXPECT_EQ(reused, 3 * 30);
  // Each conversation says what of its prompt it did not compute.
  int64_t cached = 0, computed_alone = 0;
  for (size_t i = 0; i < 4; ++i) {
    const auto& c = feed.results.at(i)->prompt_cached_tokens;
    ASSERT_TRUE(c.has_value());
    cached += *c;
    computed_alone += *c == 0;
  }
  EXPECT_EQ(cached, 3 * 30);
  EXPECT_EQ(computed_alone, 1);
}

TEST(Scheduler, SecondTurnContinuesInItsOwnSequence) {
  ScriptedEngine e(3, 64, 256, false);
  ListFeed feed;
  for (size_t i = 0; i < 3; ++i) feed.add(i, prompt(static_cast<int>(i), 4));
  std::vector<TokenId> first_prompt = prompt(1, 4);
  feed.on_done = [&](size_t id, const Result<Generation>& g) {
    if (id != 1) return;
    ASSERT_TRUE(g);
    // The second turn: the first prompt, a new user message and its reply length (the first
    // reply is left out: the scripted model reads reply tokens as its own).
    std::vector<TokenId> p = first_prompt;
    p.push_back(500);
    p.push_back(2);
    feed.add(10, p);
  };
  feed.add(3, prompt(3, 4));
  HeldTokens held;
  run_continuous_batching(e, held, feed, 3);
  ASSERT_TRUE(feed.results.at(10));
  EXPECT_EQ(feed.results.at(10)->output_tokens, 2);
  // The second turn's tokens went to the sequence of its first turn, which kept the first
  // prompt: only the two new tokens were computed.
  int first_seq = -1, second_seq = -1;
  size_t second_tokens = 0;
  for (const auto& b : e.batches) {
    for (const auto& t : b) {
      if (t.token == 100 + 1) first_seq = t.seq;
      if (t.token == 500) second_seq = t.seq;
      if (t.token == 500 || (t.token == 2 && t.pos == 23)) ++second_tokens;
    }
  }
  EXPECT_EQ(second_seq, first_seq);
  EXPECT_EQ(second_tokens, 2u);
  // The second turn kept its first prompt (22 tokens); the first turns shared the 20-token
  // header but for the one that computed it.
  EXPECT_EQ(feed.results.at(10)->prompt_cached_tokens, 22);
  int64_t header_shared = 0;
  for (size_t i = 0; i < 4; ++i) header_shared += *feed.results.at(i)->prompt_cached_tokens == 20;
  EXPECT_EQ(header_shared, 3);
  EXPECT_EQ(feed.results.at(0)->prompt_cached_tokens, 0);
}

TEST(Scheduler, FailedDecodeFailsThatBatchAndTheFeedGoesOn) {
  ScriptedEngine e(2, 64, 256, false);
  e.fail_at_call = 3;
  ListFeed feed;
  for (size_t i = 0; i < 5; ++i) feed.add(i, prompt(static_cast<int>(i), 5));
  HeldTokens held;
  run_continuous_batching(e, held, feed, 2);
  ASSERT_EQ(feed.results.size(), 5u);
  int failed = 0;
  for (const auto& [id, g] : feed.results) {
    if (!g) {
      ++failed;
      EXPECT_NE(g.error().message.find("scripted decode failure"), std::string::npos);
    } else {
      EXPECT_EQ(g->output_tokens, 5);
    }
  }
  EXPECT_EQ(failed, 2);  // the two in flight at the third decode
}

TEST(Scheduler, AnswerLineFailureFailsOnlyItsItem) {
  ScriptedEngine e(3, 64, 256, false);
  ListFeed feed;
  feed.add(0, prompt(0, 3), 100, {"A", "B"});
  feed.add(1, prompt(1, 3), 100, {"fail"});
  feed.add(2, prompt(2, 3), 100, {"C"});
  HeldTokens held;
  run_continuous_batching(e, held, feed, 3);
  ASSERT_TRUE(feed.results.at(0));
  EXPECT_EQ(feed.results.at(0)->constrained_answer, "A");
  ASSERT_FALSE(feed.results.at(1));
  ASSERT_TRUE(feed.results.at(2));
  EXPECT_EQ(feed.results.at(2)->constrained_answer, "C");
}

TEST(Scheduler, ItemLongerThanItsShareIsCutOrRefusedAlone) {
  ScriptedEngine e(2, 64, 48, false);  // 48 cells per sequence
  ListFeed feed;
  feed.add(0, prompt(0, 100));    // 22-token prompt, 100 wanted: cut at 26
  feed.add(1, prompt(1, 2, 60));  // 62-token prompt: cannot fit at all
  feed.add(2, prompt(2, 5));      // fits
  HeldTokens held;
  run_continuous_batching(e, held, feed, 2);
  ASSERT_TRUE(feed.results.at(0));
  EXPECT_TRUE(feed.results.at(0)->truncated);
  EXPECT_EQ(feed.results.at(0)->output_tokens, 48 - 22);
  ASSERT_FALSE(feed.results.at(1));
  EXPECT_NE(feed.results.at(1).error().message.find("does not fit"), std::string::npos);
  ASSERT_TRUE(feed.results.at(2));
  EXPECT_EQ(feed.results.at(2)->output_tokens, 5);
}

// A reply's last token is decoded only when something reads its logits: the end it is followed
// by, or an answer line that goes on from it; not when the budget ends the reply.
TEST(Scheduler, TheBudgetsLastTokenIsNotDecodedUnlessAnAnswerLineFollows) {
  struct Case {
    int wanted, budget;
    std::vector<std::string> letters;
    int64_t reply_tokens_decoded;
    bool truncated;
  };
  for (const Case& c :
       {Case{50, 4, {}, 3, true}, Case{50, 4, {"A", "B"}, 4, true}, Case{3, 100, {}, 3, false}}) {
    ScriptedEngine e(1, 64, 256, false);
    ListFeed feed;
    feed.add(0, prompt(0, c.wanted), c.budget, c.letters);
    HeldTokens held;
    run_continuous_batching(e, held, feed, 1);
    ASSERT_TRUE(feed.results.at(0)) << feed.results.at(0).error().message;
    EXPECT_EQ(feed.results.at(0)->output_tokens, std::min(c.wanted, c.budget));
    EXPECT_EQ(feed.results.at(0)->truncated, c.truncated);
    EXPECT_EQ(feed.results.at(0)->constrained_answer.has_value(), !c.letters.empty());
    int64_t decoded = 0;
    for (const auto& batch : e.batches) {
      for (const BatchToken& t : batch) decoded += t.token >= kReplyBase;
    }
    EXPECT_EQ(decoded, c.reply_tokens_decoded) << c.wanted << " " << c.budget;
  }
}

TEST(Scheduler, UnifiedPoolAdmitsOnlyWhatFits) {
  ScriptedEngine e(4, 64, 100, true);  // one pool of 100 cells
  ListFeed feed;
  // Each needs 22 + 40 cells of budget: two at once would not fit, so they run one by one.
  for (size_t i = 0; i < 3; ++i) feed.add(i, prompt(static_cast<int>(i), 10), 40);
  HeldTokens held;
  run_continuous_batching(e, held, feed, 4);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(feed.results.at(i));
    EXPECT_EQ(feed.results.at(i)->output_tokens, 10);
  }
  EXPECT_EQ(e.max_decoding, 1);
}

}  // namespace
}  // namespace clinbench
