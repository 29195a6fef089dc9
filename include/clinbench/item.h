// One evaluation item, whatever dataset format it came from (see docs/datasets.md).
#pragma once

#include <map>
#include <optional>
#include <string>

namespace clinbench {

enum class QuestionType {
  kMultiChoice,           // "multi_choice": options shown, answer is a letter
  kOpenEndedMultiChoice,  // "open_ended_multi_choice": open answer, then mapped to a letter
  kOpenEnded,             // "open_ended": free text, choice NOTAVALUE, never scored
};

const char* to_string(QuestionType type);
// Parses the CURE-Bench spelling ("multi_choice", ...); nullopt when unknown.
std::optional<QuestionType> question_type_from_string(const std::string& text);

struct Item {
  std::string id;     // unique within a dataset
  std::string split;  // "val", "test", "dev", ... ("" when unknown)
  QuestionType type = QuestionType::kMultiChoice;
  std::string question;
  std::map<std::string, std::string> options;  // letter ("A".."E") -> option text, ordered
  std::optional<std::string> answer;           // letter; nullopt for unlabeled items
  std::string source;                          // "path:line" the item was read from
  // The item's own reply budget per turn (CURE-Bench JSONL "max_tokens"), below the run's
  // [decoding] max_tokens, which caps it; nullopt: the run's.
  std::optional<int> max_tokens;
};

}  // namespace clinbench
