// Answer extraction: the labelled corpus (extract_corpus.cpp) at 100%, and the rules' edges.
#include "clinbench/extract.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "eval/extract_corpus.h"

namespace clinbench {
namespace {

using Options = std::map<std::string, std::string>;
using R = ExtractionRule;
using extract_corpus::kAntithrombotic;
using extract_corpus::kDrugs;

// What went wrong with one corpus case, or "" when it passed.
std::string failure(const extract_corpus::Case& c) {
  const Extraction got = extract_answer(c.reply, *c.options);
  const std::string want = c.letter[0] == '\0' ? "(none)" : c.letter;
  const std::string have = got.letter.value_or("(none)");
  std::string out;
  if (want != have) out = "letter " + have + ", want " + want;
  if (c.rule && *c.rule != got.rule) {
    if (!out.empty()) out += "; ";
    out += std::string("rule ") + to_string(got.rule) + ", want " + to_string(*c.rule);
  }
  return out;
}

TEST(ExtractCorpus, EveryReplyYieldsItsExpectedLetterAndRule) {
  const auto& corpus = extract_corpus::cases();
  ASSERT_GE(corpus.size(), 200u);
  std::size_t passed = 0;
  std::string failures;
  for (const auto& c : corpus) {
    const std::string what = failure(c);
    if (what.empty()) {
      ++passed;
    } else {
      failures += "\n  [" + std::string(c.why) + "] \"" + c.reply + "\": " + what;
    }
  }
  const double rate = 100.0 * static_cast<double>(passed) / static_cast<double>(corpus.size());
  std::printf("extraction corpus: %zu/%zu replies pass (%.1f%%)\n", passed, corpus.size(), rate);
  RecordProperty("corpus_size", static_cast<int>(corpus.size()));
  RecordProperty("corpus_passed", static_cast<int>(passed));
  EXPECT_EQ(passed, corpus.size()) << "failing cases:" << failures;
}

TEST(ExtractCorpus, EveryCaseSaysWhy) {
  for (const auto& c : extract_corpus::cases()) {
    EXPECT_NE(std::string(c.why), "") << c.reply;
    if (c.letter[0] != '\0') {
      EXPECT_TRUE(c.options->empty() || c.options->contains(c.letter)) << c.reply;
    }
  }
}

TEST(ExtractCorpus, StarterKitTrapsAreNotRepeated) {
  // The starter kit took the first character when it was A-E, and the article "A".
  EXPECT_EQ(extract_answer("Dexamethasone", kDrugs).letter, "B");
  EXPECT_FALSE(extract_answer("Based on the history, it is unclear.", kDrugs).letter);
  EXPECT_FALSE(extract_answer("A careful history is needed first.", kDrugs).letter);
  EXPECT_FALSE(extract_answer("Clinically, this is complicated.", kDrugs).letter);
}

TEST(ExtractRules, OnlyOptionLettersCount) {
  const Options ab = {{"A", "left"}, {"B", "right"}};
  EXPECT_FALSE(extract_answer("The answer is C.", ab).letter);
  EXPECT_EQ(extract_answer("The answer is B.", ab).letter, "B");
  // Without options, A-E are letters.
  EXPECT_EQ(extract_answer("The answer is E.", {}).letter, "E");
  EXPECT_FALSE(extract_answer("The answer is F.", {}).letter);
}

TEST(ExtractRules, LongReplyIsHandled) {
  std::string reply;
  for (int i = 0; i < 2000; ++i) reply += "The patient has a history of hypertension. ";
  reply += "\nFinal answer: D";
  Extraction got = extract_answer(reply, kDrugs);
  EXPECT_EQ(got.letter, "D");
  EXPECT_EQ(got.rule, R::kAnswerStatement);
}

TEST(ExtractRules, ArbitraryBytesAreSafe) {
  // Fragments that trigger every rule, glued at random, plus raw bytes: no crash, and any letter
  // found is an option letter.
  const std::vector<std::string> pieces = {
      "answer",     " is ",   ": ",   "\\boxed{", "}",        "<answer>", "</answer>",
      "**",         "(",      ")",    "B",        "a",        "A",        "\n",
      "option",     "choose", "not ", "Heparin",  "</think>", "\xE2\x80", "\xFF",
      "is correct", " ",      ".",    "$"};
  std::uint64_t state = 12345;
  auto next = [&state] { return state = state * 6364136223846793005ULL + 1442695040888963407ULL; };
  for (int round = 0; round < 2000; ++round) {
    std::string reply;
    const int n = static_cast<int>(next() >> 60);
    for (int k = 0; k < n; ++k) {
      if (next() % 5 == 0) {
        reply.push_back(static_cast<char>(next() >> 56));
      } else {
        reply += pieces[(next() >> 33) % pieces.size()];
      }
    }
    Extraction got = extract_answer(reply, kAntithrombotic);
    if (got.letter) {
      EXPECT_TRUE(kAntithrombotic.contains(*got.letter)) << reply;
    }
    EXPECT_EQ(got.letter.has_value(), got.rule != R::kNone) << reply;
  }
}

TEST(ExtractRules, RuleNamesRoundTrip) {
  for (R rule :
       {R::kNone, R::kAmbiguous, R::kTruncatedInReasoning, R::kBoxed, R::kAnswerTag,
        R::kAnswerStatement, R::kAnswerStatementText, R::kChoiceStatement, R::kCorrectStatement,
        R::kBareLetter, R::kBoldLetter, R::kLetterLabel, R::kOptionText}) {
    EXPECT_EQ(extraction_rule_from_string(to_string(rule)), rule) << to_string(rule);
  }
  EXPECT_FALSE(extraction_rule_from_string("first_character"));
}

}  // namespace
}  // namespace clinbench
