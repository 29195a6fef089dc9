// MMLU CSV reader: no header; question, A, B, C, D, answer letter.
#include <fmt/format.h>

#include "eval/csv.h"
#include "eval/dataset_readers.h"

namespace clinbench::detail {

Result<void> read_mmlu(std::string_view text, const ReadContext& context, Dataset& out) {
  static constexpr std::size_t kColumns = 6;
  static constexpr const char* kLetters[] = {"A", "B", "C", "D"};
  csv::Parsed parsed = csv::parse(strip_bom(text));
  std::size_t row = 0;
  for (csv::Record& record : parsed.records) {
    if (record.fields.size() == 1 && is_blank(record.fields[0])) continue;  // blank-ish line
    ++row;
    ++out.rows;
    auto issue = [&](RowProblem problem, std::string detail) {
      out.issues.push_back({context.path, record.line, problem, std::move(detail)});
    };
    if (record.fields.size() != kColumns) {
      issue(RowProblem::kWrongColumnCount,
            fmt::format("{} fields, expected 6 (question, A, B, C, D, answer)",
                        record.fields.size()));
      continue;
    }
    Item item;
    item.id = fmt::format("{}-{}", context.stem, row);
    item.split = context.split;
    item.type = QuestionType::kMultiChoice;
    item.source = fmt::format("{}:{}", context.path, record.line);
    item.question = trim(record.fields[0]);
    if (item.question.empty()) {
      issue(RowProblem::kInvalidValue, "the question (field 1) is empty");
      continue;
    }
    for (std::size_t k = 0; k < 4; ++k) item.options[kLetters[k]] = trim(record.fields[k + 1]);
    const std::string& answer = record.fields[5];
    if (!is_blank(answer)) {
      std::optional<std::string> letter = normalize_letter(answer);
      if (!letter || !item.options.contains(*letter)) {
        issue(RowProblem::kAnswerNotInOptions,
              fmt::format("answer '{}' is not among the options A, B, C, D", trim(answer)));
        continue;
      }
      item.answer = *letter;
    }
    out.items.push_back(std::move(item));
  }
  if (parsed.unterminated_at) {
    ++out.rows;
    out.issues.push_back({context.path, *parsed.unterminated_at, RowProblem::kBadCsv,
                          "a quoted field opened here is never closed"});
  }
  return {};
}

}  // namespace clinbench::detail
