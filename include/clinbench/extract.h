// Answer extraction: which option letter a model's free-text reply chose, and by which rule,
// read the way a careful clinician reads it (docs/extraction.md has examples of every rule).
//
// Where the answer is looked for: when the reply holds "</think>", only the text after the
// last one; a reply whose last "<think>" is never closed has no answer yet
// (kTruncatedInReasoning), whatever its reasoning says. gpt-oss replies are read from their
// final channel ("<|channel|>final<|message|>...", or "...assistantfinal..." when the special
// tokens were dropped); an analysis channel with no final channel is kTruncatedInReasoning.
// Full-width letters and punctuation ("答案：Ｃ") count as their ASCII forms.
//
// A reply's first character is never taken as the answer ("Based on..." is not B,
// "Dexamethasone" is not D) and the article "a"/"A" ("A corticosteroid", "A 45-year-old") is not
// option A. Rules, strongest first:
//   1. Statements, the LAST one in the reply wins (a model that changes its mind ends with its
//      final answer): \boxed{C}, <answer>C</answer>, "The answer is B", "Answer: b.", "Final
//      answer: (C)", "答案：C", "Die richtige Antwort ist B", "La respuesta correcta es la B",
//      "the answer is dexamethasone" (option text), "I choose B", "I'd say B", and a line that
//      is only a letter ("B", "**B**", "(B)", "B)", "Option B").
//   2. Affirmations, the last one wins: "B is correct", "Option C is the best answer",
//      "Metoclopramide (C) is the drug of choice", "the most appropriate treatment is C", "that
//      matches option C". Weaker than 1 because option-by-option explanations use them too.
//   3. Exactly one distinct letter set in bold ("... so **C** ...", "**C. Dexamethasone**").
//   4. Exactly one distinct lettered line ("C) Dexamethasone"); several (a list of the
//      options) say nothing.
//   5. The text of exactly one option appears in the reply, named affirmatively
//      (case-insensitive, whole words; an option whose text only appears inside a longer
//      option's text does not count, nor one the reply rejects: "haloperidol should be
//      avoided", "rules out ondansetron", "is contraindicated").
// Negation and contrast name the affirmed letter: "the answer is not A but C", "A and D are
// wrong; B is correct", "the incorrect answer is A; the correct one is C", "neither A nor B".
// A statement that names nothing ("the answer is not B", "I would not choose A") is skipped.
// Hypotheticals ("If the patient were pregnant, the answer would be D", "D would be correct if
// ...") are skipped, so they never override a committed answer. A hedge ("B or C", "either A or
// C", "A/C") as the deciding statement gives no letter and kAmbiguous.
// Only letters that are keys of `options` are answers (A-E when `options` is empty); a
// statement naming another letter is ignored.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace clinbench {

enum class ExtractionRule {
  kNone,                  // "none": no answer found
  kAmbiguous,             // "ambiguous": the deciding statement hedges: "B or C"; no letter
  kTruncatedInReasoning,  // "truncated_in_reasoning": ends inside <think> or gpt-oss analysis
  kBoxed,                 // "boxed": \boxed{C}
  kAnswerTag,             // "answer_tag": <answer>C</answer>
  kAnswerStatement,       // "answer_statement": "The answer is B", "Final answer: C"
  kAnswerStatementText,   // "answer_statement_text": "The answer is dexamethasone"
  kChoiceStatement,       // "choice_statement": "I choose B", "I'd go with option C"
  kCorrectStatement,      // "correct_statement": "B is correct", "Option C is the best answer"
  kBareLetter,            // "bare_letter": a line holding only a letter: "B", "**(B)**"
  kBoldLetter,            // "bold_letter": one distinct bold letter
  kLetterLabel,           // "letter_label": one distinct lettered line "B) Dexamethasone"
  kOptionText,            // "option_text": the text of exactly one option
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
