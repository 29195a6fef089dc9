// Answer extraction: which option letter a model's free-text reply chose, and by which rule.
//
// Unlike the CURE-Bench starter kit, a reply's first character is never taken as the answer
// ("Based on..." is not B, "Dexamethasone" is not D) and the article "a" is not option A.
// Rules, strongest first:
//   1. Answer statements, the LAST one in the reply wins (a model that changes its mind ends
//      with its final answer): \boxed{C}, <answer>C</answer>, "The answer is B", "Answer: b.",
//      "Final answer: (C)", "the answer is dexamethasone" (option text), "I choose B",
//      "I'd say B", and a line that is only a letter ("B", "**B**", "(B)", "B)", "Option B").
//   2. Affirmations, the last one wins: "B is correct", "Option C is the best answer". Weaker
//      than 1 because option-by-option explanations use them too.
//   3. Exactly one distinct letter set in bold ("... so **C** ...", "**C. Dexamethasone**").
//   4. Exactly one distinct lettered line ("C) Dexamethasone"); several (a list of the
//      options) say nothing.
//   5. The text of exactly one option appears in the reply (case-insensitive, whole words; an
//      option whose text only appears inside a longer option's text does not count).
// Negated statements ("the answer is not B", "I would not choose A", "B is not correct") and
// hedges ("either B or C") name nothing.
// Only letters that are keys of `options` are answers (A-E when `options` is empty); a
// statement naming another letter is ignored. When the reply holds "</think>", only the text
// after the last one is read: reasoning is not the answer.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace clinbench {

enum class ExtractionRule {
  kNone,                 // "none": no answer found
  kBoxed,                // "boxed": \boxed{C}
  kAnswerTag,            // "answer_tag": <answer>C</answer>
  kAnswerStatement,      // "answer_statement": "The answer is B", "Final answer: C"
  kAnswerStatementText,  // "answer_statement_text": "The answer is dexamethasone"
  kChoiceStatement,      // "choice_statement": "I choose B", "I'd go with option C"
  kCorrectStatement,     // "correct_statement": "B is correct", "Option C is the best answer"
  kBareLetter,           // "bare_letter": a line holding only a letter: "B", "**(B)**"
  kBoldLetter,           // "bold_letter": one distinct bold letter
  kLetterLabel,          // "letter_label": one distinct lettered line "B) Dexamethasone"
  kOptionText,           // "option_text": the text of exactly one option
};

const char* to_string(ExtractionRule rule);
std::optional<ExtractionRule> extraction_rule_from_string(const std::string& text);

struct Extraction {
  std::optional<std::string> letter;  // an option letter ("A".."Z"); nullopt when none found
  ExtractionRule rule = ExtractionRule::kNone;
};

// `options` maps letter -> option text, as in Item::options. Never fails; pure.
Extraction extract_answer(const std::string& reply,
                          const std::map<std::string, std::string>& options);

}  // namespace clinbench
