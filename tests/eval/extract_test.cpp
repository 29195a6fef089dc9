// The answer-extraction corpus: realistic replies with the letter a reader would take from them,
// including the replies the CURE-Bench starter kit got wrong.
#include "clinbench/extract.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace clinbench {
namespace {

using Options = std::map<std::string, std::string>;

const Options kDrugs = {
    {"A", "Ondansetron"}, {"B", "Dexamethasone"}, {"C", "Metoclopramide"}, {"D", "Haloperidol"}};
const Options kAntithrombotic = {{"A", "Aspirin"},
                                 {"B", "Heparin"},
                                 {"C", "Warfarin"},
                                 {"D", "Clopidogrel"},
                                 {"E", "Alteplase"}};
const Options kYesNo = {{"A", "yes"}, {"B", "no"}, {"C", "maybe"}};
const Options kNested = {{"A", "Aspirin"},
                         {"B", "Aspirin and clopidogrel"},
                         {"C", "Clopidogrel alone"},
                         {"D", "No antiplatelet therapy"}};
const Options kDeficiency = {{"A", "Iron"}, {"B", "Folate"}, {"C", "Vitamin B12"}, {"D", "Zinc"}};
const Options kHepatitis = {
    {"A", "Hepatitis A"}, {"B", "Hepatitis C"}, {"C", "Hepatitis B"}, {"D", "Hepatitis E"}};

struct Case {
  const char* reply;
  const Options* options;
  const char* letter;  // "" when no answer may be extracted
  ExtractionRule rule;
};

using R = ExtractionRule;

const std::vector<Case> kCorpus = {
    // Bare letters, however decorated.
    {"B", &kDrugs, "B", R::kBareLetter},
    {"b", &kDrugs, "B", R::kBareLetter},
    {"c.", &kDrugs, "C", R::kBareLetter},
    {"**B**", &kDrugs, "B", R::kBareLetter},
    {"B)", &kDrugs, "B", R::kBareLetter},
    {"(B)", &kDrugs, "B", R::kBareLetter},
    {"[D]", &kDrugs, "D", R::kBareLetter},
    {"A", &kAntithrombotic, "A", R::kBareLetter},
    {"A.", &kAntithrombotic, "A", R::kBareLetter},
    {"  **(E)**  \n", &kAntithrombotic, "E", R::kBareLetter},
    {"**C**\n\nExplanation: warfarin antagonizes vitamin K.", &kAntithrombotic, "C",
     R::kBareLetter},
    {"The answer is\n\n**B**", &kAntithrombotic, "B", R::kAnswerStatement},
    {"Option C.", &kAntithrombotic, "C", R::kBareLetter},
    // Answer statements.
    {"The answer is B.", &kDrugs, "B", R::kAnswerStatement},
    {"Answer: b.", &kDrugs, "B", R::kAnswerStatement},
    {"Final answer: C", &kDrugs, "C", R::kAnswerStatement},
    {"ANSWER: A", &kDrugs, "A", R::kAnswerStatement},
    {"The answer: D.", &kDrugs, "D", R::kAnswerStatement},
    {"Answer - C", &kDrugs, "C", R::kAnswerStatement},
    {"Answer:\nB", &kDrugs, "B", R::kAnswerStatement},
    {"**Answer:** C", &kDrugs, "C", R::kAnswerStatement},
    {"**Final Answer**: (D) Clopidogrel", &kAntithrombotic, "D", R::kAnswerStatement},
    {"The correct answer is **C. Warfarin**.", &kAntithrombotic, "C", R::kAnswerStatement},
    {"The answer is (C)", &kAntithrombotic, "C", R::kAnswerStatement},
    {"the answer is option c", &kAntithrombotic, "C", R::kAnswerStatement},
    {"The answer is B) Heparin.", &kAntithrombotic, "B", R::kAnswerStatement},
    {"The answer is B, not C.", &kAntithrombotic, "B", R::kAnswerStatement},
    {"Correct option: (B)", &kAntithrombotic, "B", R::kAnswerStatement},
    {"Answer: E", &kAntithrombotic, "E", R::kAnswerStatement},
    {"The answer is A because aspirin irreversibly inhibits COX-1.", &kAntithrombotic, "A",
     R::kAnswerStatement},
    {"The best choice is therefore D.", &kAntithrombotic, "D", R::kAnswerStatement},
    {"{\"answer\": \"D\"}", &kDrugs, "D", R::kAnswerStatement},
    {"Answer: a.", &kDrugs, "A", R::kAnswerStatement},
    {"The answer is: D. Haloperidol", &kDrugs, "D", R::kAnswerStatement},
    {"Correct answer: B\nIncorrect answers: A, C, D", &kDrugs, "B", R::kAnswerStatement},
    {"Answer choices A and C are incorrect. The answer is B", &kDrugs, "B", R::kAnswerStatement},
    // The last explicit statement wins.
    {"I think the answer is A, but on reflection the answer is C.", &kDrugs, "C",
     R::kAnswerStatement},
    {"The answer is B.\n\nHowever, let me reconsider the contraindications.\n\nFinal answer: D",
     &kDrugs, "D", R::kAnswerStatement},
    {"\\boxed{B}\n\nWait, actually the answer is D.", &kDrugs, "D", R::kAnswerStatement},
    {"Could be C, but the answer is D", &kDrugs, "D", R::kAnswerStatement},
    {"Let's analyze each option.\nOption A: aspirin reduces platelet aggregation.\nOption B: "
     "heparin acts on antithrombin.\nTherefore, the correct answer is B.",
     &kAntithrombotic, "B", R::kAnswerStatement},
    {"A) Aspirin - not indicated\nB) Heparin - indicated\n\nAnswer: B", &kAntithrombotic, "B",
     R::kAnswerStatement},
    {"Step 1: the answer could be A.\nStep 2: bleeding risk is high.\nSo the final answer is D.",
     &kAntithrombotic, "D", R::kAnswerStatement},
    {"I choose a different approach: the answer is C.", &kAntithrombotic, "C", R::kAnswerStatement},
    // Option text named in an answer statement.
    {"The answer is dexamethasone.", &kDrugs, "B", R::kAnswerStatementText},
    {"Final answer: Dexamethasone 10 mg IV", &kDrugs, "B", R::kAnswerStatementText},
    {"Ondansetron is wrong and haloperidol is wrong, so the answer is metoclopramide.", &kDrugs,
     "C", R::kAnswerStatementText},
    {"Ondansetron and dexamethasone are both antiemetics, but the best answer is dexamethasone.",
     &kDrugs, "B", R::kAnswerStatementText},
    // Boxed and tagged answers.
    {"\\boxed{C}", &kDrugs, "C", R::kBoxed},
    {"The answer is $\\boxed{\\text{C}}$.", &kDrugs, "C", R::kBoxed},
    {"Therefore $\\boxed{Dexamethasone}$", &kDrugs, "B", R::kBoxed},
    {"<answer>B</answer>", &kDrugs, "B", R::kAnswerTag},
    {"<answer> (d) </answer>", &kDrugs, "D", R::kAnswerTag},
    // Choice statements.
    {"After weighing the evidence, I choose B.", &kDrugs, "B", R::kChoiceStatement},
    {"I'd go with option E.", &kAntithrombotic, "E", R::kChoiceStatement},
    {"I'd pick **C** here.", &kAntithrombotic, "C", R::kChoiceStatement},
    {"Weighing bleeding risk against benefit, I'd say D.", &kAntithrombotic, "D",
     R::kChoiceStatement},
    {"I\u2019d say (b).", &kAntithrombotic, "B", R::kChoiceStatement},
    {"I would not choose A; the answer is C.", &kAntithrombotic, "C", R::kAnswerStatement},
    // "X is correct" statements.
    {"C is correct.", &kDrugs, "C", R::kCorrectStatement},
    {"Option D is the best answer because it is short acting.", &kDrugs, "D", R::kCorrectStatement},
    {"Thus, B is the correct answer.", &kDrugs, "B", R::kCorrectStatement},
    {"B is not correct; D is correct.", &kDrugs, "D", R::kCorrectStatement},
    {"Answer: B\n\nNote: A is correct only in children.", &kDrugs, "B", R::kAnswerStatement},
    {"The answer is C.\nA is the most common cause, but it is not the best answer here.", &kDrugs,
     "C", R::kAnswerStatement},
    {"I think (C) Warfarin is the most appropriate choice.", &kAntithrombotic, "C",
     R::kCorrectStatement},
    // Bold and lettered lines.
    {"**B. Heparin**", &kAntithrombotic, "B", R::kBoldLetter},
    {"Considering the bleeding risk, **D** fits best.", &kAntithrombotic, "D", R::kBoldLetter},
    {"B) Heparin", &kAntithrombotic, "B", R::kLetterLabel},
    {"E. Alteplase", &kAntithrombotic, "E", R::kLetterLabel},
    // Option text alone (the starter kit took the first character).
    {"Dexamethasone", &kDrugs, "B", R::kOptionText},
    {"Dexamethasone.", &kDrugs, "B", R::kOptionText},
    {"Based on the findings, ondansetron is preferred.", &kDrugs, "A", R::kOptionText},
    {"As the patient has atrial fibrillation, warfarin is indicated.", &kAntithrombotic, "C",
     R::kOptionText},
    {"A 45-year-old man with this presentation most likely needs heparin.", &kAntithrombotic, "B",
     R::kOptionText},
    {"Answer: The patient needs heparin.", &kAntithrombotic, "B", R::kOptionText},
    {"Based on the guidelines, Dexamethasone (B) is the answer.", &kDrugs, "B",
     R::kCorrectStatement},
    {"Hepatitis B is the most likely diagnosis.", &kHepatitis, "C", R::kOptionText},
    {"yes", &kYesNo, "A", R::kOptionText},
    {"No.", &kYesNo, "B", R::kOptionText},
    {"Maybe, the data are inconclusive.", &kYesNo, "C", R::kOptionText},
    {"Aspirin and clopidogrel", &kNested, "B", R::kOptionText},
    {"Aspirin alone is enough.", &kNested, "A", R::kOptionText},
    // Reasoning inside <think> is not the answer.
    {"<think>Maybe the answer is A.</think>\nThe answer is C.", &kDrugs, "C", R::kAnswerStatement},
    {"<think>The answer is A.</think>", &kDrugs, "", R::kNone},
    // No answer at all: the traps and the hedges.
    {"", &kDrugs, "", R::kNone},
    {"I'm not sure.", &kDrugs, "", R::kNone},
    {"Based on the clinical picture I cannot determine the cause.", &kDrugs, "", R::kNone},
    {"A beta blocker would be reasonable here, but none of the options fit.", &kAntithrombotic, "",
     R::kNone},
    {"The answer is a beta blocker.", &kAntithrombotic, "", R::kNone},
    {"Vitamin A is the most likely deficiency here.", &kDeficiency, "", R::kNone},
    {"A) Aspirin - not indicated\nB) Heparin - indicated\nC) Warfarin - not indicated",
     &kAntithrombotic, "", R::kNone},
    {"The best option is to monitor.", &kAntithrombotic, "", R::kNone},
    {"The answer is E", &kDrugs, "", R::kNone},
    {"I would not choose A.", &kAntithrombotic, "", R::kNone},
    {"I don't think B is correct.", &kDrugs, "", R::kNone},
    {"It is either B or C.", &kDrugs, "", R::kAmbiguous},
    {"Yes, although some say no.", &kYesNo, "", R::kNone},
    {"Ondansetron? No. Dexamethasone? Yes.", &kDrugs, "", R::kNone},
    {"The answer is not straightforward.", &kDrugs, "", R::kNone},
    {"A patient like this needs careful monitoring.", &kAntithrombotic, "", R::kNone},
};

TEST(ExtractCorpus, EveryReplyYieldsItsExpectedLetterAndRule) {
  ASSERT_GE(kCorpus.size(), 60u);
  for (const Case& c : kCorpus) {
    SCOPED_TRACE(testing::Message() << "reply: \"" << c.reply << "\"");
    Extraction got = extract_answer(c.reply, *c.options);
    if (c.letter[0] == '\0') {
      EXPECT_FALSE(got.letter.has_value())
          << "got " << *got.letter << " by " << to_string(got.rule);
      EXPECT_EQ(to_string(got.rule), std::string(to_string(c.rule)));
    } else {
      EXPECT_EQ(got.letter.value_or("(none)"), c.letter) << "rule " << to_string(got.rule);
      EXPECT_EQ(to_string(got.rule), std::string(to_string(c.rule)));
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
  for (R rule : {R::kNone, R::kBoxed, R::kAnswerTag, R::kAnswerStatement, R::kAnswerStatementText,
                 R::kChoiceStatement, R::kCorrectStatement, R::kBareLetter, R::kBoldLetter,
                 R::kLetterLabel, R::kOptionText}) {
    EXPECT_EQ(extraction_rule_from_string(to_string(rule)), rule) << to_string(rule);
  }
  EXPECT_FALSE(extraction_rule_from_string("first_character"));
}

}  // namespace
}  // namespace clinbench
