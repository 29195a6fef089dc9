// The llama backend on the real model: batched option log-likelihoods (shared prefix copied to
// one sequence per option) equal a plain full-sequence evaluation; generation respects budgets.
#include "backend/llama_backend.h"

#include <gtest/gtest.h>
#include <llama.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "clinbench/dataset.h"
#include "clinbench/evaluate.h"
#include "model/backend_init.h"
#include "test_util.h"

namespace clinbench {
namespace {

struct Loaded {
  llama_model* model = nullptr;
  llama_context* ctx = nullptr;
  ~Loaded() {
    if (ctx) llama_free(ctx);
    if (model) llama_model_free(model);
  }
};

// unified: one KV pool of 1024 cells for all sequences; otherwise 1024 cells per sequence.
void load(Loaded& l, uint32_t n_seq, uint32_t n_batch = 2048,
          llama_flash_attn_type fa = LLAMA_FLASH_ATTN_TYPE_AUTO, bool unified = true) {
  ensure_llama_backend();
  llama_model_params mp = llama_model_default_params();
  l.model = llama_model_load_from_file(testing::stories_model().c_str(), mp);
  ASSERT_NE(l.model, nullptr);
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = unified ? 1024 : 1024 * n_seq;
  cp.n_threads = 2;
  cp.n_seq_max = n_seq;
  cp.n_batch = n_batch;
  cp.n_ubatch = std::min<uint32_t>(n_batch, 512);
  cp.kv_unified = unified;
  cp.flash_attn_type = fa;
  l.ctx = llama_init_from_model(l.model, cp);
  ASSERT_NE(l.ctx, nullptr);
}

// Sum of log p(continuation tokens) by evaluating prompt + continuation as one sequence.
double reference_logprob(llama_model* model, llama_context* ctx, const std::string& prompt,
                         const std::string& cont) {
  const llama_vocab* vocab = llama_model_get_vocab(model);
  auto tok = [&](const std::string& t, bool special) {
    std::vector<llama_token> out(t.size() + 8);
    int n = llama_tokenize(vocab, t.data(), static_cast<int>(t.size()), out.data(),
                           static_cast<int>(out.size()), special, true);
    out.resize(static_cast<size_t>(n));
    return out;
  };
  std::vector<llama_token> p = tok(prompt, true), c = tok(cont, false);
  std::vector<llama_token> all = p;
  all.insert(all.end(), c.begin(), c.end());
  llama_memory_clear(llama_get_memory(ctx), true);
  llama_batch batch = llama_batch_init(static_cast<int>(all.size()), 0, 1);
  for (size_t i = 0; i < all.size(); ++i) {
    batch.token[i] = all[i];
    batch.pos[i] = static_cast<int>(i);
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = 1;
  }
  batch.n_tokens = static_cast<int>(all.size());
  EXPECT_EQ(llama_decode(ctx, batch), 0);
  const int n_vocab = llama_vocab_n_tokens(vocab);
  double sum = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    const float* lg = llama_get_logits_ith(ctx, static_cast<int>(p.size() + i - 1));
    double mx = lg[0], z = 0;
    for (int v = 1; v < n_vocab; ++v) mx = std::max<double>(mx, lg[v]);
    for (int v = 0; v < n_vocab; ++v) z += std::exp(lg[v] - mx);
    sum += lg[c[i]] - mx - std::log(z);
  }
  llama_batch_free(batch);
  return sum;
}

// Per-sequence KV, as clinbench creates its contexts, and flash attention off: the prefix is
// decoded in one batch and the continuations in another, where the reference decodes all in one,
// and ggml's CPU flash attention (f16 accumulation) then moves the longest option's sum by about
// 1e-2 (docs/protocol.md); this test is about positions, sequences and copies.
TEST(RunBackend, BatchedLoglikEqualsFullSequenceEvaluation) {
  Loaded l;
  load(l, 8, 2048, LLAMA_FLASH_ATTN_TYPE_DISABLED, false);
  auto backend = make_llama_backend(l.model, l.ctx);
  const std::vector<ChatMessage> msgs = {{"user", "Once upon a time"}};
  const std::vector<std::pair<std::string, std::string>> conts = {
      {"A", " there was a little girl named Lily"},
      {"B", " the dog"},
      {"C", " a"},
      {"D", " big red ball in the park and she was happy"}};
  auto scores = backend->loglik(msgs, "Answer:", conts);
  ASSERT_TRUE(scores) << scores.error().message;
  ASSERT_EQ(scores->options.size(), 4u);
  // The prompt the backend rendered: stories260K has no template, so ChatML.
  const std::string prompt =
      "<|im_start|>user\nOnce upon a time<|im_end|>\n<|im_start|>assistant\nAnswer:";
  for (size_t i = 0; i < conts.size(); ++i) {
    const double ref = reference_logprob(l.model, l.ctx, prompt, conts[i].second);
    EXPECT_NEAR(scores->options[i].logprob, ref, 2e-3) << conts[i].first;
    EXPECT_LT(scores->options[i].logprob, 0.0);
  }
}

// More options than the context has sequences (the later ones copy the prefix from sequence 0)
// and a batch smaller than the prompt (the shared prefix spans several llama_decode calls).
TEST(RunBackend, LoglikWithMoreOptionsThanSequencesAndASmallBatch) {
  Loaded l;
  load(l, 3, 8, LLAMA_FLASH_ATTN_TYPE_DISABLED, false);
  auto backend = make_llama_backend(l.model, l.ctx);
  const std::vector<ChatMessage> msgs = {{"user", "Once upon a time"}};
  const std::vector<std::pair<std::string, std::string>> conts = {
      {"A", " there was a little girl named Lily"},
      {"B", " the dog"},
      {"C", " a"},
      {"D", " big red ball in the park"},
      {"E", " Tom and Sue went"},
      {"F", " cat"},
      {"G", " a bird sang in the tree"}};
  auto scores = backend->loglik(msgs, "Answer:", conts);
  ASSERT_TRUE(scores) << scores.error().message;
  ASSERT_EQ(scores->options.size(), conts.size());
  const std::string prompt =
      "<|im_start|>user\nOnce upon a time<|im_end|>\n<|im_start|>assistant\nAnswer:";
  Loaded ref;
  load(ref, 1, 2048, LLAMA_FLASH_ATTN_TYPE_DISABLED);
  for (size_t i = 0; i < conts.size(); ++i) {
    EXPECT_EQ(scores->options[i].letter, conts[i].first);
    EXPECT_NEAR(scores->options[i].logprob,
                reference_logprob(ref.model, ref.ctx, prompt, conts[i].second), 2e-3)
        << conts[i].first;
  }
}

TEST(RunBackend, LoglikWithPerSequenceKvEqualsFullSequenceEvaluation) {
  Loaded l;
  load(l, 3, 8, LLAMA_FLASH_ATTN_TYPE_AUTO, false);
  auto backend = make_llama_backend(l.model, l.ctx);
  const std::vector<std::pair<std::string, std::string>> conts = {
      {"A", " there was a little girl named Lily"},
      {"B", " the dog"},
      {"C", " a"},
      {"D", " big red ball in the park"},
      {"E", " cat"}};
  auto scores = backend->loglik({{"user", "Once upon a time"}}, "Answer:", conts);
  ASSERT_TRUE(scores) << scores.error().message;
  const std::string prompt =
      "<|im_start|>user\nOnce upon a time<|im_end|>\n<|im_start|>assistant\nAnswer:";
  Loaded ref;
  load(ref, 1);
  for (size_t i = 0; i < conts.size(); ++i) {
    EXPECT_NEAR(scores->options[i].logprob,
                reference_logprob(ref.model, ref.ctx, prompt, conts[i].second), 2e-3)
        << conts[i].first;
  }
}

// Several items scored in the same decodes (loglik_many, per-sequence KV): their prompts in one
// batch, then their options round by round, equal to scoring each alone; more items than
// sequences (two groups), a batch smaller than the prompts (chunks spanning items), options of
// different counts and lengths, and an item whose option does not fit fails alone.
TEST(RunBackend, LoglikOfSeveralItemsTogetherEqualsEachAlone) {
  Loaded l;
  load(l, 4, 16, LLAMA_FLASH_ATTN_TYPE_DISABLED, false);
  auto backend = make_llama_backend(l.model, l.ctx);
  std::string too_long;
  while (backend->count_tokens(too_long) < 1100) too_long += " and the dog ran";
  const std::vector<LoglikRequest> requests = {
      {{{"user", "Once upon a time"}}, "Answer:", {{"A", " there was a girl"}, {"B", " a"}}},
      {{{"user", "Tom saw a big red ball."}},
       "Answer:",
       {{"A", " he was happy"}, {"B", " the dog"}, {"C", " a cat sat on the mat"}}},
      {{{"user", "Lily went to the park"}}, "Answer:", {{"A", " a"}, {"B", too_long}}},
      {{{"user", "The sun was hot"}},
       "Answer:",
       {{"A", " so"}, {"B", " they swam"}, {"C", " in the lake"}, {"D", " and ate"}}},
      {{{"user", "One day a bird"}}, "Answer:", {{"A", " sang"}, {"B", " flew away to the tree"}}}};
  const auto together = backend->loglik_many(requests, 4);
  ASSERT_EQ(together.size(), requests.size());
  Loaded ref;
  load(ref, 1, 2048, LLAMA_FLASH_ATTN_TYPE_DISABLED, false);
  auto alone_backend = make_llama_backend(ref.model, ref.ctx);
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& q = requests[i];
    if (i == 2) {
      ASSERT_FALSE(together[i]);
      EXPECT_NE(together[i].error().message.find("option B"), std::string::npos)
          << together[i].error().message;
      continue;
    }
    ASSERT_TRUE(together[i]) << i << ": " << together[i].error().message;
    auto alone = alone_backend->loglik(q.messages, q.assistant_prefix, q.continuations);
    ASSERT_TRUE(alone) << alone.error().message;
    ASSERT_EQ(together[i]->options.size(), q.continuations.size());
    EXPECT_EQ(together[i]->prompt_tokens, alone->prompt_tokens);
    // The first group held four items of which one failed; the second, one.
    EXPECT_EQ(together[i]->batch_width, i < 4 ? 3 : 1) << i;
    for (size_t o = 0; o < q.continuations.size(); ++o) {
      EXPECT_EQ(together[i]->options[o].letter, q.continuations[o].first);
      EXPECT_NEAR(together[i]->options[o].logprob, alone->options[o].logprob, 2e-3)
          << i << " " << q.continuations[o].first;
    }
  }
  // Again: each prompt's KV is still held by a sequence, and the scores do not change.
  const auto again = backend->loglik_many(requests, 4);
  for (size_t i = 0; i < requests.size(); ++i) {
    if (i == 2) continue;
    ASSERT_TRUE(again[i]) << again[i].error().message;
    for (size_t o = 0; o < requests[i].continuations.size(); ++o) {
      EXPECT_NEAR(again[i]->options[o].logprob, together[i]->options[o].logprob, 2e-3);
    }
  }
  EXPECT_GT(backend->stats().prompt_tokens_reused, 0);
}

// Items scored together that share a system prompt: the first group computes it once and copies
// it to the other sequences instead of computing it in each; the scores equal each item's alone.
TEST(RunBackend, LoglikGroupComputesTheSharedSystemPromptOnce) {
  const std::string sys =
      "You are a careful clinician. Read the story, then pick the option that continues it best.";
  const std::vector<LoglikRequest> requests = {
      {{{"system", sys}, {"user", "Once upon a time"}}, "Answer:", {{"A", " a girl"}, {"B", " a"}}},
      {{{"system", sys}, {"user", "Tom saw a big red ball."}},
       "Answer:",
       {{"A", " he was happy"}, {"B", " the dog"}}},
      {{{"system", sys}, {"user", "The sun was hot"}}, "Answer:", {{"A", " so"}, {"B", " they"}}}};
  Loaded l;
  load(l, 3, 2048, LLAMA_FLASH_ATTN_TYPE_DISABLED, false);
  auto backend = make_llama_backend(l.model, l.ctx);
  const auto together = backend->loglik_many(requests, 3);
  ASSERT_EQ(together.size(), 3u);
  // What the three prompts share (the header and the system prompt, tens of tokens) was
  // computed once: the two other sequences got it as a copy.
  const int64_t sys_tokens = backend->count_tokens(sys);
  ASSERT_GT(sys_tokens, 16);
  EXPECT_GE(backend->stats().prompt_tokens_reused, 2 * sys_tokens);
  EXPECT_LT(backend->stats().prompt_tokens_reused, 2 * together[0]->prompt_tokens);

  Loaded ref;
  load(ref, 1, 2048, LLAMA_FLASH_ATTN_TYPE_DISABLED, false);
  auto alone_backend = make_llama_backend(ref.model, ref.ctx);
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(together[i]) << together[i].error().message;
    const auto& q = requests[i];
    auto alone = alone_backend->loglik(q.messages, q.assistant_prefix, q.continuations);
    ASSERT_TRUE(alone) << alone.error().message;
    EXPECT_EQ(together[i]->batch_width, 3);
    for (size_t o = 0; o < q.continuations.size(); ++o) {
      EXPECT_NEAR(together[i]->options[o].logprob, alone->options[o].logprob, 2e-3) << i << o;
    }
  }
}

// One KV pool for all sequences: what other sequences hold from the previous item (its prompt
// and options) is let go before a long prompt needs the cells. Two items of about 600 tokens
// each, three options, in a pool of 1024 cells.
TEST(RunBackend, LoglikInAUnifiedPoolFreesThePreviousItemsCells) {
  Loaded l;
  load(l, 4);
  auto backend = make_llama_backend(l.model, l.ctx);
  const std::vector<std::pair<std::string, std::string>> conts = {
      {"A", " the dog ran home"}, {"B", " a cat"}, {"C", " she was happy in the park"}};
  for (const char* word : {"Lily ", "Tom "}) {
    std::string text;
    while (backend->count_tokens(text) < 600) text += word + std::string("saw a big red ball. ");
    auto scores = backend->loglik({{"user", text}}, "Answer:", conts);
    ASSERT_TRUE(scores) << word << ": " << scores.error().message;
    EXPECT_GT(scores->prompt_tokens, 600);
  }
}

TEST(RunBackend, GenerationStopsAtTheBudgetAndSaysSo) {
  Loaded l;
  load(l, 8);
  auto backend = make_llama_backend(l.model, l.ctx);
  GenerationParams gp;
  gp.max_tokens = 5;
  auto g = backend->generate({{"user", "Once upon a time"}}, gp);
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(g->output_tokens, 5);
  EXPECT_TRUE(g->truncated);
  EXPECT_GT(g->prompt_tokens, 4);
  gp.constrained_answer_letters = {"A", "B", "C"};
  auto c = backend->generate({{"user", "Pick one"}}, gp);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(c->constrained_answer.has_value());
  EXPECT_TRUE(*c->constrained_answer == "A" || *c->constrained_answer == "B" ||
              *c->constrained_answer == "C");
}

void expect_isolated_sequences(bool unified) {
  Loaded l;
  load(l, 8, 2048, LLAMA_FLASH_ATTN_TYPE_AUTO, unified);
  auto backend = make_llama_backend(l.model, l.ctx);
  GenerationParams gp;
  gp.max_tokens = 24;
  const std::vector<ChatMessage> same = {{"user", "Once upon a time"}};
  const std::vector<ChatMessage> other = {{"user", "The little dog ran to the"}};
  auto gens = backend->generate_many({same, other, same, same, other},
                                     std::vector<GenerationParams>(5, gp), 5);
  ASSERT_EQ(gens.size(), 5u);
  for (const auto& g : gens) ASSERT_TRUE(g) << g.error().message;
  // Identical conversations in one batch get identical replies; different ones differ.
  EXPECT_EQ(gens[0]->text, gens[2]->text);
  EXPECT_EQ(gens[0]->text, gens[3]->text);
  EXPECT_EQ(gens[1]->text, gens[4]->text);
  EXPECT_NE(gens[0]->text, gens[1]->text);
  EXPECT_EQ(gens[0]->output_tokens, 24);
  EXPECT_TRUE(gens[0]->truncated);
  for (const auto& g : gens) EXPECT_GT(g->batch_width, 1.0);
}

TEST(RunBackend, ParallelSequencesAreIsolated) { expect_isolated_sequences(true); }

// Per-sequence KV (the context clinbench creates): a shared prefix is copied across streams.
TEST(RunBackend, ParallelSequencesAreIsolatedWithPerSequenceKv) {
  expect_isolated_sequences(false);
}

TEST(RunBackend, PromptLongerThanTheContextIsAnError) {
  Loaded l;
  load(l, 1);
  auto backend = make_llama_backend(l.model, l.ctx);
  std::string huge;
  for (int i = 0; i < 3000; ++i) huge += "word ";
  auto g = backend->generate({{"user", huge}}, GenerationParams{});
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("does not fit the context"), std::string::npos);
}

// The prompt cache: a prompt that shares its start with the previous one on the same sequence
// evaluates only the rest, and every result equals a fresh context's. Flash attention is off
// here: ggml's CPU kernel accumulates in f16, so the order of the KV cells (which reuse
// changes) moves log-probabilities by up to about 1e-2 with it on, as batch composition does.
TEST(RunBackend, PromptCacheReusesTheSharedStartAndChangesNoResult) {
  constexpr auto kNoFa = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  const std::string sys = "You are a careful clinician. Answer the question about the story.";
  const std::vector<ChatMessage> first = {{"system", sys}, {"user", "Once upon a time"}};
  const std::vector<ChatMessage> second = {{"system", sys}, {"user", "The little dog ran to the"}};
  const std::vector<ChatMessage> third = {{"system", sys}, {"user", "Lily had a red ball"}};
  GenerationParams gp;
  gp.max_tokens = 16;

  Loaded fresh;
  load(fresh, 4, 2048, kNoFa);
  std::vector<std::string> want;
  for (const auto& conv : {second, third}) {
    auto b = make_llama_backend(fresh.model, fresh.ctx);
    auto g = b->generate(conv, gp);
    ASSERT_TRUE(g) << g.error().message;
    want.push_back(g->text);
    EXPECT_EQ(b->stats().prompt_tokens_reused, 0);
  }
  auto fresh_backend = make_llama_backend(fresh.model, fresh.ctx);
  auto fresh_scores = fresh_backend->loglik(third, "Answer:", {{"A", " yes"}, {"B", " no"}});
  ASSERT_TRUE(fresh_scores) << fresh_scores.error().message;

  Loaded l;
  load(l, 4, 2048, kNoFa);
  auto backend = make_llama_backend(l.model, l.ctx);
  auto g1 = backend->generate(first, gp);
  ASSERT_TRUE(g1) << g1.error().message;
  EXPECT_EQ(backend->stats().prompt_tokens_reused, 0);
  auto g2 = backend->generate(second, gp);
  ASSERT_TRUE(g2) << g2.error().message;
  const int64_t reused = backend->stats().prompt_tokens_reused;
  EXPECT_GT(reused, 10) << "the system prompt's tokens are kept";
  EXPECT_LT(reused, g2->prompt_tokens);
  // Each generation says what of its prompt was not computed.
  EXPECT_EQ(g1->prompt_cached_tokens, 0);
  EXPECT_EQ(g2->prompt_cached_tokens, reused);
  EXPECT_EQ(g2->text, want[0]);

  // Then several conversations, each keeping its own start, and log-likelihood after it. One at
  // a time: prompts admitted together are computed in one batch, whose matrix products add in
  // another order (up to about 5e-4 here; ChoicesDoNotDependOnHowManyDecodeTogether covers it).
  auto gens =
      backend->generate_many({third, second, third}, std::vector<GenerationParams>(3, gp), 1);
  ASSERT_EQ(gens.size(), 3u);
  for (const auto& g : gens) ASSERT_TRUE(g) << g.error().message;
  EXPECT_GT(backend->stats().prompt_tokens_reused, reused);
  EXPECT_EQ(gens[0]->text, want[1]);
  EXPECT_EQ(gens[1]->text, want[0]);
  EXPECT_EQ(gens[2]->text, want[1]);
  const int64_t before = backend->stats().prompt_tokens_reused;
  auto scores = backend->loglik(third, "Answer:", {{"A", " yes"}, {"B", " no"}});
  ASSERT_TRUE(scores) << scores.error().message;
  EXPECT_GT(backend->stats().prompt_tokens_reused, before);
  ASSERT_EQ(scores->options.size(), 2u);
  for (size_t o = 0; o < 2; ++o) {
    EXPECT_NEAR(scores->options[o].logprob, fresh_scores->options[o].logprob, 1e-4);
  }
  // The same prompt again keeps all but its last token.
  ASSERT_TRUE(backend->generate(second, gp));
  const int64_t before_again = backend->stats().prompt_tokens_reused;
  auto again = backend->generate(second, gp);
  ASSERT_TRUE(again);
  EXPECT_EQ(backend->stats().prompt_tokens_reused - before_again, again->prompt_tokens - 1);
  EXPECT_EQ(again->prompt_cached_tokens, again->prompt_tokens - 1);
  EXPECT_EQ(again->text, want[0]);
}

// A second turn finds the sequence that holds its first turn's prompt, wherever the first turn
// ran, and evaluates only what follows it; its reply equals a fresh context's.
TEST(RunBackend, PromptCacheFollowsAConversationToItsNextTurn) {
  constexpr auto kNoFa = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  const std::string sys = "You are a careful clinician. Answer the question about the story.";
  const std::vector<ChatMessage> other = {{"system", sys}, {"user", "Lily had a red ball"}};
  const std::vector<ChatMessage> conv = {{"system", sys}, {"user", "Once upon a time"}};
  GenerationParams gp;
  gp.max_tokens = 12;

  Loaded l;
  load(l, 4, 2048, kNoFa);
  auto backend = make_llama_backend(l.model, l.ctx);
  auto first = backend->generate_many({other, conv}, std::vector<GenerationParams>(2, gp), 2);
  ASSERT_TRUE(first[0] && first[1]);
  std::vector<ChatMessage> next = conv;
  next.push_back({"assistant", first[1]->text});
  next.push_back({"user", "What happened next?"});
  const int64_t before = backend->stats().prompt_tokens_reused;
  auto second = backend->generate(next, gp);
  ASSERT_TRUE(second) << second.error().message;
  // The whole first prompt at least (it ran on sequence 1; a plain slot-by-index cache would
  // have kept only the system prompt of sequence 0).
  EXPECT_GE(backend->stats().prompt_tokens_reused - before, first[1]->prompt_tokens)
      << "reused " << backend->stats().prompt_tokens_reused - before << " of "
      << second->prompt_tokens;

  Loaded fresh;
  load(fresh, 4, 2048, kNoFa);
  auto fb = make_llama_backend(fresh.model, fresh.ctx);
  auto want = fb->generate(next, gp);
  ASSERT_TRUE(want);
  EXPECT_EQ(second->text, want->text);
}

// Results do not depend on how many conversations decode together (docs/protocol.md): the same
// 40 MMLU-medical items, greedy, with a grammar-constrained answer, at 1, 8 and 32 in flight in one
// context with per-sequence KV. Batched matrix kernels add in another order than one-row ones,
// so a near-tie between two tokens can go the other way after a while; the choices must agree on
// at least 95% of the items, and the test prints how many replies differ.
TEST(RunBackend, ChoicesDoNotDependOnHowManyDecodeTogether) {
  auto ds = read_dataset(std::string(CLINBENCH_SHARED_DIR) + "/data/mmlu-medical/test");
  ASSERT_TRUE(ds) << ds.error().message;
  std::vector<DatasetItem> items;
  for (size_t i = 0; i < 40 && i < ds->items.size(); ++i) items.push_back({"mmlu", ds->items[i]});
  EvalSettings s;
  s.decoding.max_tokens = 24;
  s.decoding.constrained_answer = true;
  Loaded l;
  load(l, 32, 512, LLAMA_FLASH_ATTN_TYPE_AUTO, false);
  std::vector<std::vector<ItemRecord>> runs;
  for (int width : {1, 8, 32}) {
    auto backend = make_llama_backend(l.model, l.ctx);
    runs.push_back(evaluate_items(*backend, items, s, "m", width));
  }
  for (size_t w = 1; w < runs.size(); ++w) {
    size_t same_choice = 0, same_text = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      const ItemRecord& a = runs[0][i];
      const ItemRecord& b = runs[w][i];
      ASSERT_EQ(a.item_id, b.item_id);
      ASSERT_TRUE(a.error.empty()) << a.error;
      ASSERT_TRUE(b.error.empty()) << b.error;
      EXPECT_FALSE(a.choice.empty());
      same_choice += a.choice == b.choice;
      same_text += a.prediction == b.prediction;
    }
    const int width = w == 1 ? 8 : 32;
    std::cout << "width " << width << " vs 1: " << same_choice << " of " << items.size()
              << " choices and " << same_text << " replies identical\n";
    EXPECT_GE(same_choice * 100, items.size() * 95) << "width " << width;
  }
}

}  // namespace
}  // namespace clinbench
