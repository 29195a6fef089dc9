#include "clinbench/item.h"

#include <array>
#include <utility>

namespace clinbench {

namespace {

// The one QuestionType <-> string table; spellings are CURE-Bench's.
constexpr std::array<std::pair<QuestionType, const char*>, 3> kQuestionTypeNames = {{
    {QuestionType::kMultiChoice, "multi_choice"},
    {QuestionType::kOpenEndedMultiChoice, "open_ended_multi_choice"},
    {QuestionType::kOpenEnded, "open_ended"},
}};

}  // namespace

const char* to_string(QuestionType type) {
  for (const auto& [value, name] : kQuestionTypeNames) {
    if (value == type) return name;
  }
  return "unknown";
}

std::optional<QuestionType> question_type_from_string(const std::string& text) {
  for (const auto& [value, name] : kQuestionTypeNames) {
    if (text == name) return value;
  }
  return std::nullopt;
}

}  // namespace clinbench
