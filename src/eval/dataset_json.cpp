// JSON-based readers: CURE-Bench JSONL, MedQA/MedMCQA JSONL, PubMedQA JSON.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>
#include <string>

#include "eval/dataset_readers.h"

namespace clinbench::detail {

using nlohmann::json;

namespace {

std::string source_of(const ReadContext& context, std::size_t line) {
  return fmt::format("{}:{}", context.path, line);
}

void add_issue(Dataset& out, const ReadContext& context, std::size_t line, Problem problem) {
  out.issues.push_back({context.path, line, problem.problem, std::move(problem.detail)});
}

// `field` of `row` as a string; a missing (or null) field and a non-string are problems.
std::optional<Problem> get_string(const json& row, const char* field, std::string& out) {
  auto it = row.find(field);
  if (it == row.end() || it->is_null()) {
    return Problem{RowProblem::kMissingField, fmt::format("field '{}' is missing", field)};
  }
  if (!it->is_string()) {
    return Problem{RowProblem::kWrongType,
                   fmt::format("field '{}' is {} {}, expected a string", field,
                               it->is_array() || it->is_object() ? "an" : "a", it->type_name())};
  }
  out = it->get<std::string>();
  return std::nullopt;
}

std::optional<Problem> get_nonempty_string(const json& row, const char* field, std::string& out) {
  if (auto problem = get_string(row, field, out)) return problem;
  if (is_blank(out)) {
    return Problem{RowProblem::kInvalidValue, fmt::format("field '{}' is empty", field)};
  }
  return std::nullopt;
}

std::optional<Problem> get_options(const json& row, std::map<std::string, std::string>& out) {
  auto it = row.find("options");
  if (it == row.end() || it->is_null()) {
    return Problem{RowProblem::kMissingField, "field 'options' is missing"};
  }
  return read_options(*it, out);
}

// Reads an optional answer field into item.answer. For lettered types the answer must be one of
// the option letters; for open_ended a non-letter answer (free text) is left out, not an error.
std::optional<Problem> get_answer(const json& row, const char* field, Item& item) {
  auto it = row.find(field);
  if (it == row.end() || it->is_null()) return std::nullopt;  // unlabeled
  if (!it->is_string()) {
    return Problem{RowProblem::kWrongType,
                   fmt::format("field '{}' is a {}, expected a string", field, it->type_name())};
  }
  const std::string raw = it->get<std::string>();
  if (is_blank(raw)) return std::nullopt;
  std::optional<std::string> letter = normalize_letter(raw);
  const bool known = letter && item.options.contains(*letter);
  if (known) {
    item.answer = *letter;
    return std::nullopt;
  }
  if (item.type == QuestionType::kOpenEnded) return std::nullopt;
  return Problem{
      RowProblem::kAnswerNotInOptions,
      fmt::format("answer '{}' is not among the options {}", trim(raw), letters_of(item.options))};
}

std::optional<Problem> require_object(const json& value, const char* what) {
  if (value.is_object()) return std::nullopt;
  return Problem{
      RowProblem::kWrongType,
      fmt::format("{} is {} {}, expected an object", what,
                  value.is_array() || value.is_object() ? "an" : "a", value.type_name())};
}

std::optional<Problem> curebench_row(const json& row, Item& item) {
  if (auto problem = require_object(row, "the line")) return problem;
  if (auto problem = get_nonempty_string(row, "id", item.id)) return problem;
  std::string type_name;
  if (auto problem = get_string(row, "question_type", type_name)) return problem;
  std::optional<QuestionType> type = question_type_from_string(trim(type_name));
  if (!type) {
    return Problem{RowProblem::kInvalidValue,
                   fmt::format("unknown question type '{}' (expected multi_choice, "
                               "open_ended_multi_choice or open_ended)",
                               type_name)};
  }
  item.type = *type;
  if (auto problem = get_nonempty_string(row, "question", item.question)) return problem;
  if (auto problem = get_options(row, item.options)) return problem;
  if (item.options.empty() && item.type != QuestionType::kOpenEnded) {
    return Problem{RowProblem::kEmptyOptions,
                   fmt::format("field 'options' is empty for a {} question", type_name)};
  }
  if (auto it = row.find("max_tokens"); it != row.end() && !it->is_null()) {
    if (!it->is_number_integer()) {
      return Problem{
          RowProblem::kWrongType,
          fmt::format("field 'max_tokens' is a {}, expected an integer", it->type_name())};
    }
    const auto n = it->get<int64_t>();
    if (n < 1 || n > std::numeric_limits<int32_t>::max()) {
      return Problem{RowProblem::kInvalidValue,
                     fmt::format("field 'max_tokens' is {}, expected at least 1", n)};
    }
    item.max_tokens = static_cast<int>(n);
  }
  return get_answer(row, "correct_answer", item);
}

std::optional<Problem> medqa_row(const json& row, Item& item) {
  if (auto problem = require_object(row, "the line")) return problem;
  item.type = QuestionType::kMultiChoice;
  if (auto problem = get_nonempty_string(row, "question", item.question)) return problem;
  if (auto problem = get_options(row, item.options)) return problem;
  if (item.options.empty()) return Problem{RowProblem::kEmptyOptions, "field 'options' is empty"};
  return get_answer(row, "answer_idx", item);
}

using RowFn = std::optional<Problem> (*)(const json& row, Item& item);

Result<void> read_jsonl(std::string_view text, const ReadContext& context, Dataset& out,
                        RowFn row_fn, bool derive_ids) {
  for (const auto& [line, content] : nonblank_lines(text)) {
    ++out.rows;
    json row;
    if (auto problem = parse_json(content, row)) {
      add_issue(out, context, line, std::move(*problem));
      continue;
    }
    Item item;
    item.split = context.split;
    item.source = source_of(context, line);
    if (derive_ids) item.id = fmt::format("{}-{}", context.stem, line);
    if (auto problem = row_fn(row, item)) {
      add_issue(out, context, line, std::move(*problem));
      continue;
    }
    out.items.push_back(std::move(item));
  }
  return {};
}

// Line of each key of the top-level object, found by scanning the text (nlohmann keeps no
// positions). Keys are compared in their raw, still-escaped spelling.
std::map<std::string, std::size_t> top_level_key_lines(std::string_view text) {
  std::map<std::string, std::size_t> lines;
  std::size_t line = 1;
  int depth = 0;
  bool expect_key = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
    } else if (c == '"') {
      const std::size_t start = i + 1;
      const std::size_t start_line = line;
      ++i;
      while (i < text.size() && text[i] != '"') {
        if (text[i] == '\\')
          ++i;
        else if (text[i] == '\n')
          ++line;
        ++i;
      }
      if (depth == 1 && expect_key) {
        lines.emplace(std::string(text.substr(start, i - start)), start_line);
        expect_key = false;
      }
    } else if (c == '{' || c == '[') {
      ++depth;
      expect_key = depth == 1 && c == '{';
    } else if (c == '}' || c == ']') {
      --depth;
    } else if (c == ',' && depth == 1) {
      expect_key = true;
    }
  }
  return lines;
}

std::optional<Problem> pubmedqa_row(const json& row, Item& item) {
  if (auto problem = require_object(row, "the entry")) return problem;
  item.type = QuestionType::kMultiChoice;
  std::string question;
  if (auto problem = get_nonempty_string(row, "QUESTION", question)) return problem;
  auto contexts = row.find("CONTEXTS");
  if (contexts == row.end() || contexts->is_null()) {
    return Problem{RowProblem::kMissingField, "field 'CONTEXTS' is missing"};
  }
  if (!contexts->is_array()) {
    return Problem{RowProblem::kWrongType,
                   fmt::format("field 'CONTEXTS' is a {}, expected an array of strings",
                               contexts->type_name())};
  }
  const json* labels = nullptr;
  if (auto it = row.find("LABELS");
      it != row.end() && it->is_array() && it->size() == contexts->size()) {
    labels = &*it;
  }
  std::string text;
  for (std::size_t k = 0; k < contexts->size(); ++k) {
    const json& context = (*contexts)[k];
    if (!context.is_string()) {
      return Problem{RowProblem::kWrongType, fmt::format("CONTEXTS[{}] is a {}, expected a string",
                                                         k, context.type_name())};
    }
    text += k == 0 ? "Context:\n" : "\n";
    if (labels && (*labels)[k].is_string()) {
      text += (*labels)[k].get<std::string>() + ": ";
    }
    text += context.get<std::string>();
  }
  if (!text.empty()) text += "\n\n";
  item.question = text + "Question: " + trim(question);
  item.options = {{"A", "yes"}, {"B", "no"}, {"C", "maybe"}};

  auto decision = row.find("final_decision");
  if (decision == row.end() || decision->is_null()) return std::nullopt;  // unlabeled
  if (!decision->is_string()) {
    return Problem{
        RowProblem::kWrongType,
        fmt::format("field 'final_decision' is a {}, expected a string", decision->type_name())};
  }
  std::string value = trim(decision->get<std::string>());
  for (char& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (value.empty()) return std::nullopt;
  for (const auto& [letter, option] : item.options) {
    if (value == option) {
      item.answer = letter;
      return std::nullopt;
    }
  }
  return Problem{
      RowProblem::kAnswerNotInOptions,
      fmt::format("final_decision '{}' is not yes, no or maybe", decision->get<std::string>())};
}

}  // namespace

Result<void> read_curebench(std::string_view text, const ReadContext& context, Dataset& out) {
  return read_jsonl(text, context, out, curebench_row, /*derive_ids=*/false);
}

Result<void> read_medqa(std::string_view text, const ReadContext& context, Dataset& out) {
  return read_jsonl(text, context, out, medqa_row, /*derive_ids=*/true);
}

Result<void> read_pubmedqa(std::string_view text, const ReadContext& context, Dataset& out) {
  json document;
  try {
    document = json::parse(text);
  } catch (const json::parse_error& e) {
    std::size_t line = 1;
    for (std::size_t i = 0; i < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') ++line;
    }
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("{}:{}: invalid JSON: {}", context.path, line, e.what()));
  }
  if (!document.is_object()) {
    return make_error(
        ErrorCode::kCorrupt,
        fmt::format("{}:1: a PubMedQA file is one JSON object keyed by PMID, "
                    "this one is {} {}",
                    context.path, document.is_array() ? "an" : "a", document.type_name()));
  }
  if (!document.empty() && std::all_of(document.begin(), document.end(),
                                       [](const json& value) { return value.is_string(); })) {
    // test_ground_truth.json sits beside the questions: PMID -> decision, no questions.
    return make_error(ErrorCode::kUnsupported,
                      fmt::format("{}: every entry is a string: an answer key (PMID -> "
                                  "decision), not PubMedQA questions",
                                  context.path));
  }
  const std::map<std::string, std::size_t> key_lines = top_level_key_lines(text);
  // nlohmann's object is a std::map, so iteration is by key; keep the file's order instead.
  std::vector<std::pair<std::size_t, std::string>> order;
  for (const auto& [key, value] : document.items()) {
    auto it = key_lines.find(key);
    order.emplace_back(it == key_lines.end() ? 0 : it->second, key);
  }
  std::stable_sort(order.begin(), order.end());
  for (const auto& [line, key] : order) {
    ++out.rows;
    Item item;
    item.id = key;
    item.split = context.split;
    item.source = source_of(context, line);
    if (is_blank(key)) {
      add_issue(out, context, line, {RowProblem::kInvalidValue, "empty PMID key"});
      continue;
    }
    if (auto problem = pubmedqa_row(document[key], item)) {
      add_issue(out, context, line, std::move(*problem));
      continue;
    }
    out.items.push_back(std::move(item));
  }
  return {};
}

// ----------------------------------------------------------------------------------------------
// Shared helpers.
// ----------------------------------------------------------------------------------------------

std::string_view strip_bom(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  return text;
}

bool is_blank(std::string_view text) {
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string trim(std::string_view text) {
  std::size_t begin = 0;
  std::size_t end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return std::string(text.substr(begin, end - begin));
}

std::vector<std::pair<std::size_t, std::string_view>> nonblank_lines(std::string_view text) {
  text = strip_bom(text);
  std::vector<std::pair<std::size_t, std::string_view>> lines;
  std::size_t number = 1;
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (!is_blank(line)) lines.emplace_back(number, line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
    ++number;
  }
  return lines;
}

std::optional<Problem> parse_json(std::string_view text, json& out) {
  try {
    out = json::parse(text);
    return std::nullopt;
  } catch (const json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 7: <why>".
    std::string why = e.what();
    if (auto colon = why.find(": ", why.find("column")); colon != std::string::npos) {
      why = why.substr(colon + 2);
    }
    return Problem{RowProblem::kBadJson, fmt::format("invalid JSON at column {}: {}", e.byte, why)};
  } catch (const json::exception& e) {
    return Problem{RowProblem::kBadJson, fmt::format("invalid JSON: {}", e.what())};
  }
}

std::optional<Problem> read_options(const json& options, std::map<std::string, std::string>& out) {
  if (!options.is_object()) {
    return Problem{RowProblem::kWrongType,
                   fmt::format("field 'options' is {} {}, expected an object of letter to text",
                               options.is_array() ? "an" : "a", options.type_name())};
  }
  for (const auto& [key, value] : options.items()) {
    std::string letter = trim(key);
    if (letter.size() != 1 || !std::isalpha(static_cast<unsigned char>(letter[0]))) {
      return Problem{RowProblem::kInvalidValue,
                     fmt::format("option key '{}' is not a single letter", key)};
    }
    letter[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(letter[0])));
    if (!value.is_string()) {
      return Problem{
          RowProblem::kWrongType,
          fmt::format("option '{}' is {} {}, expected a string", key,
                      value.is_array() || value.is_object() ? "an" : "a", value.type_name())};
    }
    if (!out.emplace(letter, value.get<std::string>()).second) {
      return Problem{RowProblem::kInvalidValue,
                     fmt::format("option '{}' appears twice (letters ignore case)", letter)};
    }
  }
  return std::nullopt;
}

std::optional<std::string> normalize_letter(std::string_view text) {
  std::string value = trim(text);
  if (value.size() == 3 && value.front() == '(' && value.back() == ')') {
    value = value.substr(1, 1);
  }
  if (value.size() == 2 && (value.back() == '.' || value.back() == ')')) value.pop_back();
  if (value.size() != 1 || !std::isalpha(static_cast<unsigned char>(value[0]))) {
    return std::nullopt;
  }
  value[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(value[0])));
  return value;
}

std::string letters_of(const std::map<std::string, std::string>& options) {
  if (options.empty()) return "(none)";
  std::string letters;
  for (const auto& [letter, text] : options) {
    if (!letters.empty()) letters += ", ";
    letters += letter;
  }
  return letters;
}

}  // namespace clinbench::detail
