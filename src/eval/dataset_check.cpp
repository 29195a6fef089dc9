// The dataset check: counts, flags and invalid rows of one dataset, as JSON and as text.
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "clinbench/dataset.h"
#include "util/utf8.h"

namespace clinbench {

namespace {

// Enough to see what is wrong; the JSON report has them all.
constexpr std::size_t kMaxIssuesInText = 50;
constexpr std::size_t kMaxIdsInText = 20;

bool is_scored(QuestionType type) { return type != QuestionType::kOpenEnded; }

void count(LabelCounts& counts, const Item& item) {
  ++counts.items;
  if (item.answer) ++counts.labeled;
}

nlohmann::json counts_json(const LabelCounts& counts) {
  return {{"items", counts.items}, {"labeled", counts.labeled}, {"unlabeled", counts.unlabeled()}};
}

nlohmann::json by_type_json(const std::map<QuestionType, LabelCounts>& by_type) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [type, counts] : by_type) out[to_string(type)] = counts_json(counts);
  return out;
}

std::string split_label(const std::string& split) { return split.empty() ? "(none)" : split; }

}  // namespace

std::vector<std::string> DatasetCheck::unlabeled_splits() const {
  std::vector<std::string> out;
  for (const auto& [split, check] : by_split) {
    if (!check.has_labels()) out.push_back(split);
  }
  return out;
}

DatasetCheck check_dataset(const Dataset& dataset) {
  DatasetCheck check;
  check.path = dataset.path;
  check.format = dataset.format;
  check.rows = dataset.rows;
  for (const Item& item : dataset.items) {
    count(check.total, item);
    count(check.by_type[item.type], item);
    SplitCheck& split = check.by_split[item.split];
    count(split.total, item);
    count(split.by_type[item.type], item);
    if (is_scored(item.type)) {
      ++split.scored_items;
      if (item.answer) ++split.scored_labeled;
    }
  }
  std::set<std::string> seen;
  for (const RowIssue& issue : dataset.issues) {
    ++check.problem_counts[issue.problem];
    if (issue.problem != RowProblem::kDuplicateId) continue;
    // The detail is "duplicate id '<id>' (first at ...)".
    const std::size_t open = issue.detail.find('\'');
    const std::size_t close = issue.detail.rfind("' (first at");
    if (open == std::string::npos || close == std::string::npos || close <= open) continue;
    std::string id = issue.detail.substr(open + 1, close - open - 1);
    if (seen.insert(id).second) check.duplicate_ids.push_back(std::move(id));
  }
  check.issues = dataset.issues;
  return check;
}

DatasetCheck check_dataset(const std::filesystem::path& path, const ReadOptions& options) {
  ReadOptions lenient = options;
  lenient.strict = false;
  Result<Dataset> dataset = read_dataset(path, lenient);
  if (!dataset) {
    DatasetCheck check;
    check.path = path.string();
    check.error = dataset.error();
    return check;
  }
  return check_dataset(*dataset);
}

nlohmann::json to_json(const DatasetCheck& check) {
  nlohmann::json out;
  out["path"] = valid_utf8(check.path);
  out["format"] = check.format ? nlohmann::json(to_string(*check.format)) : nlohmann::json();
  out["ok"] = check.ok();
  if (check.error) {
    out["error"] = {{"code", to_string(check.error->code)},
                    {"message", valid_utf8(check.error->message)}};
  }
  out["rows"] = check.rows;
  out["items"] = counts_json(check.total);
  out["invalid"] = check.issues.size();
  out["by_type"] = by_type_json(check.by_type);
  nlohmann::json splits = nlohmann::json::object();
  for (const auto& [name, split] : check.by_split) {
    nlohmann::json entry = counts_json(split.total);
    entry["by_type"] = by_type_json(split.by_type);
    entry["scored_items"] = split.scored_items;
    entry["scored_labeled"] = split.scored_labeled;
    entry["has_labels"] = split.has_labels();
    entry["partially_labeled"] = split.partially_labeled();
    splits[valid_utf8(name)] = std::move(entry);
  }
  out["by_split"] = std::move(splits);
  nlohmann::json unlabeled = nlohmann::json::array();
  for (const std::string& split : check.unlabeled_splits()) unlabeled.push_back(valid_utf8(split));
  out["unlabeled_splits"] = std::move(unlabeled);
  nlohmann::json duplicates = nlohmann::json::array();
  for (const std::string& id : check.duplicate_ids) duplicates.push_back(valid_utf8(id));
  out["duplicate_ids"] = std::move(duplicates);
  nlohmann::json problems = nlohmann::json::object();
  for (const auto& [problem, n] : check.problem_counts) problems[to_string(problem)] = n;
  out["problem_counts"] = std::move(problems);
  nlohmann::json issues = nlohmann::json::array();
  for (const RowIssue& issue : check.issues) {
    issues.push_back({{"path", valid_utf8(issue.path)},
                      {"line", issue.line},
                      {"problem", to_string(issue.problem)},
                      {"detail", valid_utf8(issue.detail)}});
  }
  out["issues"] = std::move(issues);
  return out;
}

std::string to_text(const DatasetCheck& check) {
  std::string out;
  if (check.error) {
    return fmt::format("{}: cannot be read: {}\n", check.path, check.error->message);
  }
  out += fmt::format("{}: {} format, {} rows, {} items ({} labeled, {} unlabeled), {} invalid\n",
                     check.path, check.format ? to_string(*check.format) : "unknown", check.rows,
                     check.total.items, check.total.labeled, check.total.unlabeled(),
                     check.issues.size());
  if (!check.by_split.empty()) {
    out += fmt::format("\n  {:<10} {:<24} {:>7} {:>8} {:>10}\n", "split", "question type", "items",
                       "labeled", "unlabeled");
    for (const auto& [name, split] : check.by_split) {
      for (const auto& [type, counts] : split.by_type) {
        out += fmt::format("  {:<10} {:<24} {:>7} {:>8} {:>10}\n", split_label(name),
                           to_string(type), counts.items, counts.labeled, counts.unlabeled());
      }
      if (split.by_type.size() > 1) {
        out += fmt::format("  {:<10} {:<24} {:>7} {:>8} {:>10}\n", split_label(name), "all",
                           split.total.items, split.total.labeled, split.total.unlabeled());
      }
    }
  }
  std::string flags;
  for (const auto& [name, split] : check.by_split) {
    if (!split.has_labels()) {
      flags += fmt::format(
          "  ! split {} has no labels: no accuracy and no generalization gap is "
          "computed from it\n",
          split_label(name));
    } else if (split.partially_labeled()) {
      flags += fmt::format(
          "  ! split {} is partially labeled ({} of {} scored items): accuracy "
          "covers the labeled items only\n",
          split_label(name), split.scored_labeled, split.scored_items);
    }
  }
  if (!flags.empty()) out += "\n" + flags;
  if (!check.duplicate_ids.empty()) {
    out += fmt::format("\nduplicate ids ({}):", check.duplicate_ids.size());
    const std::size_t shown = std::min(check.duplicate_ids.size(), kMaxIdsInText);
    for (std::size_t i = 0; i < shown; ++i) out += " " + check.duplicate_ids[i];
    if (shown < check.duplicate_ids.size()) out += " ...";
    out += "\n";
  }
  if (!check.issues.empty()) {
    out += "\ninvalid rows (skipped):\n";
    for (const auto& [problem, n] : check.problem_counts) {
      out += fmt::format("  {:<24} {}\n", to_string(problem), n);
    }
    const std::size_t shown = std::min(check.issues.size(), kMaxIssuesInText);
    for (std::size_t i = 0; i < shown; ++i) out += "  " + check.issues[i].to_string() + "\n";
    if (shown < check.issues.size()) {
      out += fmt::format("  ... and {} more (all of them are in the JSON report)\n",
                         check.issues.size() - shown);
    }
  }
  return out;
}

}  // namespace clinbench
