// Answer extraction (contract and rule order in include/clinbench/extract.h): the rule names,
// and the entry point, which finds the part of the reply that can hold its answer and hands it
// to the scanner (eval/extract_scanner.h). A hand-written scanner rather than std::regex:
// replies run to megabytes of degenerate output, where libstdc++'s recursive regex engine is
// slow and can overflow the stack.
#include "clinbench/extract.h"

#include <array>
#include <utility>

#include "eval/extract_scanner.h"
#include "eval/extract_text.h"

namespace clinbench {

namespace {

constexpr std::array<std::pair<ExtractionRule, const char*>, 13> kRuleNames = {{
    {ExtractionRule::kNone, "none"},
    {ExtractionRule::kAmbiguous, "ambiguous"},
    {ExtractionRule::kTruncatedInReasoning, "truncated_in_reasoning"},
    {ExtractionRule::kBoxed, "boxed"},
    {ExtractionRule::kAnswerTag, "answer_tag"},
    {ExtractionRule::kAnswerStatement, "answer_statement"},
    {ExtractionRule::kAnswerStatementText, "answer_statement_text"},
    {ExtractionRule::kChoiceStatement, "choice_statement"},
    {ExtractionRule::kCorrectStatement, "correct_statement"},
    {ExtractionRule::kBareLetter, "bare_letter"},
    {ExtractionRule::kBoldLetter, "bold_letter"},
    {ExtractionRule::kLetterLabel, "letter_label"},
    {ExtractionRule::kOptionText, "option_text"},
}};

}  // namespace

const char* to_string(ExtractionRule rule) {
  for (const auto& [value, name] : kRuleNames) {
    if (value == rule) return name;
  }
  return "unknown";
}

std::optional<ExtractionRule> extraction_rule_from_string(const std::string& text) {
  for (const auto& [value, name] : kRuleNames) {
    if (text == name) return value;
  }
  return std::nullopt;
}

Extraction extract_answer(const std::string& reply,
                          const std::map<std::string, std::string>& options) {
  const extract_detail::AnswerRegion region = extract_detail::answer_region(reply);
  if (region.in_reasoning) return {std::nullopt, ExtractionRule::kTruncatedInReasoning};
  return extract_detail::Scanner(extract_detail::fold_width(region.text), options).run();
}

}  // namespace clinbench
