// Extraction as the protocol uses it (src/eval/protocol.cpp): the record's choice, rule and
// correctness for scripted replies, truncated or not. A truncated reply keeps only a letter
// from an explicit statement; one that ends inside its reasoning has none.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "clinbench/backend.h"
#include "clinbench/evaluate.h"

namespace clinbench {
namespace {

// A backend that answers every generation with one scripted reply.
class ScriptedBackend final : public Backend {
 public:
  ScriptedBackend(std::string reply, bool truncated)
      : reply_(std::move(reply)), truncated_(truncated) {}
  Result<Generation> generate(const std::vector<ChatMessage>& /*messages*/,
                              const GenerationParams& /*params*/) override {
    Generation g;
    g.text = reply_;
    g.output_tokens = 8;
    g.truncated = truncated_;
    return g;
  }
  Result<LoglikScores> loglik(
      const std::vector<ChatMessage>& /*messages*/, const std::string& /*assistant_prefix*/,
      const std::vector<std::pair<std::string, std::string>>& /*continuations*/) override {
    return make_error(ErrorCode::kUnsupported, "not scripted");
  }
  int64_t count_tokens(const std::string& text) override {
    return static_cast<int64_t>(text.size());
  }
  BackendStats stats() const override { return {}; }

 private:
  std::string reply_;
  bool truncated_;
};

ItemRecord run(const std::string& reply, bool truncated) {
  Item item;
  item.id = "q1";
  item.question = "Delayed chemotherapy-induced nausea: which drug?";
  item.options = {
      {"A", "Ondansetron"}, {"B", "Dexamethasone"}, {"C", "Metoclopramide"}, {"D", "Haloperidol"}};
  item.answer = "B";
  ScriptedBackend backend(reply, truncated);
  return evaluate_item(backend, item, EvalSettings{}, "scripted", "corpus");
}

TEST(ExtractionProtocol, UnclosedReasoningHasNoChoiceAndTruncatedIsNotScored) {
  const ItemRecord r = run("<think>The answer is B... wait, let me reconsider", true);
  EXPECT_EQ(r.choice, "");
  EXPECT_EQ(r.extraction_rule, "truncated_in_reasoning");
  EXPECT_TRUE(r.truncated);
  EXPECT_FALSE(r.correct.has_value());
}

TEST(ExtractionProtocol, ReasoningThatStoppedUntruncatedIsAnUnansweredItem) {
  const ItemRecord r = run("analysisWe need the corticosteroid. Answer B.", false);
  EXPECT_EQ(r.choice, "");
  EXPECT_EQ(r.extraction_rule, "truncated_in_reasoning");
  EXPECT_EQ(r.correct, false);
}

TEST(ExtractionProtocol, HedgeIsAmbiguousAndNotCorrect) {
  const ItemRecord r = run("Answer: B or C", false);
  EXPECT_EQ(r.choice, "");
  EXPECT_EQ(r.extraction_rule, "ambiguous");
  EXPECT_EQ(r.correct, false);
}

TEST(ExtractionProtocol, TruncatedReplyKeepsAnExplicitAnswerDespiteALaterHypothetical) {
  const ItemRecord r =
      run("Final answer: B. If the patient were pregnant, the answer would be D. Also", true);
  EXPECT_EQ(r.choice, "B");
  EXPECT_EQ(r.extraction_rule, "answer_statement");
  EXPECT_EQ(r.correct, true);
}

TEST(ExtractionProtocol, TruncatedReplyDropsAWeakerRule) {
  const ItemRecord r = run("Haloperidol should be avoided; dexamethasone is preferred and", true);
  EXPECT_EQ(r.extraction_rule, "option_text");
  EXPECT_EQ(r.choice, "");
  EXPECT_FALSE(r.correct.has_value());
}

TEST(ExtractionProtocol, GptOssFinalChannelIsTheAnswer) {
  const ItemRecord r =
      run("analysisWe need... maybe A.assistantfinal**Answer:** B. Dexamethasone", false);
  EXPECT_EQ(r.choice, "B");
  EXPECT_EQ(r.correct, true);
}

}  // namespace
}  // namespace clinbench
