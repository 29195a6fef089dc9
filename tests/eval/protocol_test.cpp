// The protocol on a scripted backend: what each turn shows the model, how thinking replies are
// read, and the two-stage log-likelihood rule for open_ended_multi_choice items.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "clinbench/evaluate.h"

namespace clinbench {
namespace {

// Replies with the next scripted generation; log-likelihoods favour `loglik_best`.
class ScriptedBackend final : public Backend {
 public:
  std::vector<Generation> replies;
  std::string loglik_best = "C";
  std::vector<std::vector<ChatMessage>> generated;  // the conversations generate() saw
  std::vector<GenerationParams> params;
  std::vector<std::vector<ChatMessage>> scored;  // the conversations loglik() saw
  std::vector<std::vector<std::pair<std::string, std::string>>> continuations;

  Result<Generation> generate(const std::vector<ChatMessage>& messages,
                              const GenerationParams& p) override {
    generated.push_back(messages);
    params.push_back(p);
    if (replies.empty()) return make_error(ErrorCode::kInternal, "no scripted reply left");
    Generation g = replies.front();
    replies.erase(replies.begin());
    return g;
  }
  Result<LoglikScores> loglik(
      const std::vector<ChatMessage>& messages, const std::string& /*assistant_prefix*/,
      const std::vector<std::pair<std::string, std::string>>& conts) override {
    scored.push_back(messages);
    continuations.push_back(conts);
    LoglikScores s;
    s.prompt_tokens = 40;
    for (const auto& [letter, text] : conts) {
      s.options.push_back({letter, letter == loglik_best ? -0.1 : -3.0, 1});
    }
    return s;
  }
  // Scores one at a time, as the default does, and records the groups it was handed; a
  // conversation mentioning `fail_on` fails.
  std::vector<size_t> groups;
  std::string fail_on = "\x01";
  std::vector<Result<LoglikScores>> loglik_many(const std::vector<LoglikRequest>& requests,
                                                int width) override {
    groups.push_back(requests.size());
    auto out = Backend::loglik_many(requests, width);
    for (size_t i = 0; i < out.size(); ++i) {
      if (requests[i].messages.back().content.find(fail_on) != std::string::npos) {
        out[i] = make_error(ErrorCode::kResource, "scripted failure");
      } else if (out[i]) {
        out[i]->batch_width = static_cast<int>(requests.size());
      }
    }
    return out;
  }
  int64_t count_tokens(const std::string& text) override {
    return static_cast<int64_t>(text.size());
  }
  BackendStats stats() const override { return {}; }
};

Generation reply(const std::string& text, int64_t tokens = 5) {
  Generation g;
  g.text = text;
  g.output_tokens = tokens;
  return g;
}

Item oemc_item() {
  Item item;
  item.id = "oemc1";
  item.type = QuestionType::kOpenEndedMultiChoice;
  item.question = "Which antiemetic is safest in long QT?";
  item.options = {{"A", "Ondansetron"}, {"B", "Haloperidol"}, {"C", "Metoclopramide"}};
  item.answer = "C";
  return item;
}

Item mc_item() {
  Item item;
  item.id = "mc1";
  item.type = QuestionType::kMultiChoice;
  item.question = "Which drug prolongs the QT interval?";
  item.options = {{"A", "Ondansetron"}, {"B", "Aspirin"}};
  item.answer = "A";
  return item;
}

bool mentions_options(const ChatMessage& m, const Item& item) {
  for (const auto& [letter, text] : item.options) {
    if (m.content.find(text) != std::string::npos) return true;
  }
  return false;
}

EvalSettings loglik_settings() {
  EvalSettings s;
  s.decoding.scoring = Scoring::kLoglik;
  return s;
}

TEST(Protocol, LoglikNeverShowsTheOptionsInTheFirstTurnOfAnOpenEndedMultiChoiceItem) {
  ScriptedBackend b;
  b.replies = {reply("Metoclopramide, with ECG monitoring.")};
  const Item item = oemc_item();
  ItemRecord r = evaluate_item(b, item, loglik_settings(), "m", "d");
  ASSERT_EQ(b.generated.size(), 1u);  // turn 1, generated as the protocol says
  for (const auto& m : b.generated[0]) EXPECT_FALSE(mentions_options(m, item)) << m.content;
  // Turn 2 scored: the model's own answer, then the options, then the letters after "Answer:".
  ASSERT_EQ(b.scored.size(), 1u);
  const auto& conv = b.scored[0];
  ASSERT_GE(conv.size(), 2u);
  EXPECT_EQ(conv[conv.size() - 2].role, "assistant");
  EXPECT_EQ(conv[conv.size() - 2].content, "Metoclopramide, with ECG monitoring.");
  EXPECT_TRUE(mentions_options(conv.back(), item));
  ASSERT_EQ(b.continuations[0].size(), 3u);
  EXPECT_EQ(b.continuations[0][0], (std::pair<std::string, std::string>{"A", " A"}));
  EXPECT_EQ(r.scoring, "loglik");
  EXPECT_EQ(r.prediction, "Metoclopramide, with ECG monitoring.");
  EXPECT_EQ(r.choice, "C");
  EXPECT_EQ(r.extraction_rule, "loglik_normalized");
  EXPECT_EQ(r.correct, true);
  EXPECT_EQ(r.output_tokens, std::vector<int64_t>{5});
  EXPECT_TRUE(r.extra.contains("loglik"));
}

TEST(Protocol, TwoStageItemsInAStreamWithOtherLoglikItems) {
  ScriptedBackend b;
  b.replies = {reply("Metoclopramide.")};
  b.loglik_best = "A";
  std::vector<DatasetItem> items = {{"d", oemc_item()}, {"d", mc_item()}};
  auto records = evaluate_items(b, items, loglik_settings(), "m", 4);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].item_id, "oemc1");
  EXPECT_EQ(records[0].scoring, "loglik");
  EXPECT_EQ(records[0].choice, "A");
  EXPECT_EQ(records[0].prediction, "Metoclopramide.");
  EXPECT_EQ(records[1].item_id, "mc1");
  EXPECT_EQ(records[1].choice, "A");
  ASSERT_EQ(b.generated.size(), 1u);  // only the two-stage item's first turn
  // The multi_choice item's options are its texts; the mapping turn's, its letters.
  ASSERT_EQ(b.continuations.size(), 2u);
  EXPECT_EQ(b.continuations[0][0].second, " Ondansetron");
  EXPECT_EQ(b.continuations[1][0].second, " A");
}

// Log-likelihood items go to the backend loglik_batch at a time, up to the width (it scores each
// group in the same decodes); an item that fails fails alone, and each record says how many it
// was scored with. By default, one at a time.
TEST(Protocol, LoglikItemsAreScoredInGroupsOfLoglikBatch) {
  {
    ScriptedBackend b;
    std::vector<DatasetItem> items(3, {"d", mc_item()});
    evaluate_items(b, items, loglik_settings(), "m", 8);
    EXPECT_EQ(b.groups, (std::vector<size_t>{1, 1, 1}));
    EvalSettings wide = loglik_settings();
    wide.decoding.loglik_batch = 16;  // more than the width: the width bounds it
    ScriptedBackend c;
    evaluate_items(c, items, wide, "m", 2);
    EXPECT_EQ(c.groups, (std::vector<size_t>{2, 1}));
  }
  ScriptedBackend b;
  b.loglik_best = "A";
  b.fail_on = "item 4?";
  std::vector<DatasetItem> items;
  for (int i = 0; i < 7; ++i) {
    Item item = mc_item();
    item.id = "mc" + std::to_string(i);
    item.question = "Which drug prolongs the QT interval, item " + std::to_string(i) + "?";
    items.push_back({"d", item});
  }
  EvalSettings s = loglik_settings();
  s.decoding.loglik_batch = 3;
  auto records = evaluate_items(b, items, s, "m", 3);
  EXPECT_EQ(b.groups, (std::vector<size_t>{3, 3, 1}));
  ASSERT_EQ(records.size(), 7u);
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].item_id, "mc" + std::to_string(i));
    if (i == 4) {
      EXPECT_EQ(records[i].error, "scripted failure");
      continue;
    }
    EXPECT_EQ(records[i].error, "") << i;
    EXPECT_EQ(records[i].choice, "A") << i;
    if (i < 6) {
      EXPECT_EQ(records[i].extra["loglik"]["batch_width"], 3) << i;
    } else {
      EXPECT_FALSE(records[i].extra["loglik"].contains("batch_width"));  // alone
    }
  }
}

TEST(Protocol, ThinkingSettingsReachTheBackend) {
  ScriptedBackend b;
  b.replies = {reply("Answer: A")};
  EvalSettings s;
  s.decoding.thinking = Thinking::kOff;
  s.decoding.reasoning_budget = 123;
  evaluate_item(b, mc_item(), s, "m", "d");
  ASSERT_EQ(b.params.size(), 1u);
  EXPECT_EQ(b.params[0].thinking, Thinking::kOff);
  EXPECT_EQ(b.params[0].reasoning_budget, 123);
}

// An item's own budget applies below the run's, which caps it.
TEST(Protocol, AnItemsMaxTokensLowersTheRunsAndIsCappedByIt) {
  EvalSettings s;
  s.decoding.max_tokens = 100;
  for (const auto& [own, want] :
       std::vector<std::pair<std::optional<int>, int>>{{std::nullopt, 100}, {40, 40}, {300, 100}}) {
    ScriptedBackend b;
    b.replies = {reply("Answer: A")};
    Item item = mc_item();
    item.max_tokens = own;
    evaluate_item(b, item, s, "m", "d");
    ASSERT_EQ(b.params.size(), 1u);
    EXPECT_EQ(b.params[0].max_tokens, want) << own.value_or(0);
  }
}

// The prompt tokens prefill_ms is the time of: each turn's prompt less what the prompt cache kept
// (the second turn keeps the first's prompt), summed; absent where the cache is not visible.
TEST(Protocol, PrefillTokensLeaveOutTheCachedPromptOfEachTurn) {
  ScriptedBackend b;
  Generation first = reply("The QT-safe one is metoclopramide.", 12);
  first.prompt_tokens = 50;
  first.prompt_cached_tokens = 20;  // the chat header, held from an earlier item
  first.prefill_ms = 30;
  Generation second = reply("Answer: C", 4);
  second.prompt_tokens = 90;
  second.prompt_cached_tokens = 62;  // the first turn's prompt and reply
  second.prefill_ms = 25;
  b.replies = {first, second};
  ItemRecord r = evaluate_item(b, oemc_item(), EvalSettings{}, "m", "d");
  EXPECT_EQ(r.prompt_tokens, 50);
  EXPECT_EQ(r.prefill_ms, 55);
  EXPECT_EQ(r.extra.value("prefill_tokens", -1), (50 - 20) + (90 - 62));

  ScriptedBackend served;
  served.replies = {reply("Answer: A")};  // prompt_cached_tokens unknown
  served.replies[0].prompt_tokens = 50;
  ItemRecord rs = evaluate_item(served, mc_item(), EvalSettings{}, "m", "d");
  EXPECT_FALSE(rs.extra.contains("prefill_tokens")) << rs.extra.dump();
}

TEST(Protocol, AThinkingReplyIsReadFromItsAnswerOnly) {
  ScriptedBackend b;
  Generation g = reply("Answer: A", 40);
  g.thinking = true;
  g.reasoning = "Aspirin? The answer is B... no: ondansetron blocks hERG.";
  g.reasoning_tokens = 36;
  b.replies = {g};
  ItemRecord r = evaluate_item(b, mc_item(), EvalSettings{}, "m", "d");
  EXPECT_EQ(r.choice, "A");
  EXPECT_EQ(r.prediction, "Answer: A");
  EXPECT_EQ(r.reasoning_tokens, 36);
  EXPECT_EQ(r.reasoning_chars, static_cast<int64_t>(g.reasoning.size()));
  EXPECT_EQ(r.extra.value("thinking", false), true);
  EXPECT_NE(r.trace.find("\"reasoning_content\""), std::string::npos) << r.trace;
  EXPECT_NE(r.trace.find("hERG"), std::string::npos);
}

TEST(Protocol, AReplyCutWhileThinkingHasNoAnswer) {
  ScriptedBackend b;
  Generation g = reply("", 64);
  g.thinking = true;
  g.reasoning_closed = false;
  g.truncated = true;
  g.reasoning = "the answer is A... wait, let me reconsider";
  g.reasoning_tokens = 64;
  g.constrained_answer = "A";  // a grammar line written inside the thinking does not count
  b.replies = {g};
  EvalSettings s;
  s.decoding.constrained_answer = true;
  ItemRecord r = evaluate_item(b, mc_item(), s, "m", "d");
  EXPECT_EQ(r.choice, "");
  EXPECT_EQ(r.extraction_rule, "truncated_in_reasoning");
  EXPECT_TRUE(r.truncated);
  EXPECT_FALSE(r.correct.has_value());
  EXPECT_EQ(r.extra.value("reasoning_closed", true), false);
}

}  // namespace
}  // namespace clinbench
