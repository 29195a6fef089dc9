// Dataset readers and the dataset check (docs/datasets.md describes every format).
//
// Every reader turns one file into std::vector<Item>. A broken row never ends the read: it is
// skipped and recorded as a RowIssue naming path:line and the reason, and the valid rows are
// still returned. Only a problem with the file as a whole (missing, unreadable, undetectable
// format, a PubMedQA document that is not JSON) is an Error. Nothing here throws.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clinbench/error.h"
#include "clinbench/item.h"

namespace clinbench {

enum class DatasetFormat {
  kAuto,       // "auto": detect from the extension, then the content
  kCureBench,  // "curebench": JSONL, id/question_type/question/options/correct_answer
  kMedQa,      // "medqa": JSONL, question/options/answer_idx (MedQA and MedMCQA)
  kMmlu,       // "mmlu": CSV without header, question,A,B,C,D,answer
  kPubMedQa,   // "pubmedqa": one JSON object keyed by PMID
};

const char* to_string(DatasetFormat format);
// Accepts the names above, plus "medmcqa" (same as "medqa"); nullopt when unknown.
std::optional<DatasetFormat> dataset_format_from_string(const std::string& text);

// Why a row was skipped. One to-string table (snake_case names, stable in JSON output).
enum class RowProblem {
  kEmptyFile,           // "empty_file": the file holds no rows at all
  kBadJson,             // "bad_json": the line (or document) is not valid JSON
  kBadCsv,              // "bad_csv": an unterminated quoted field
  kWrongColumnCount,    // "wrong_column_count": a CSV row without exactly 6 fields
  kMissingField,        // "missing_field": a required field is absent (or null)
  kWrongType,           // "wrong_type": a field has the wrong JSON type
  kInvalidValue,        // "invalid_value": unknown question type, bad option key, empty text...
  kEmptyOptions,        // "empty_options": a lettered question without options
  kAnswerNotInOptions,  // "answer_not_in_options": the answer letter is not an option key
  kDuplicateId,         // "duplicate_id": an id already seen in this dataset (first one is kept)
  kUnreadable,          // "unreadable": a file inside a directory could not be read at all
};

const char* to_string(RowProblem problem);

struct RowIssue {
  std::string path;      // the file
  std::size_t line = 0;  // 1-based line where the row starts; 0 when the whole file is at fault
  RowProblem problem = RowProblem::kBadJson;
  std::string detail;  // what exactly was wrong, e.g. "field 'options' is missing"

  // "path:line: detail" (or "path: detail" when line is 0).
  std::string to_string() const;
};

struct ReadOptions {
  DatasetFormat format = DatasetFormat::kAuto;
  // The split every item gets ("val", "test", ...). Empty: inferred per file from the file
  // name, then its parent directory name (see infer_split); "" when neither names one.
  std::string split;
  // When true the first RowIssue becomes the Error of read_dataset (the run's --strict).
  bool strict = false;
};

struct Dataset {
  std::string path;                             // as given to read_dataset
  DatasetFormat format = DatasetFormat::kAuto;  // the format read; kAuto only for directories
                                                // whose files differ in format
  std::size_t rows = 0;                         // rows seen, valid or not (blank lines excluded)
  std::vector<Item> items;                      // valid rows in file order; ids unique
  std::vector<RowIssue> issues;                 // skipped rows in file order
};

// Reads a dataset file, or every *.jsonl, *.json and *.csv file under a directory (recursively,
// in sorted path order; MMLU keeps one CSV per subject under dev/, val/, test/). Errors: the
// path does not exist or cannot be read (kNotFound, kIo), the format cannot be detected
// (kUnsupported), a PubMedQA file that is not one JSON object (kCorrupt, with path:line), or
// with options.strict, the first row issue (kCorrupt). In a directory, a file that fails as a
// whole becomes a RowIssue (kUnreadable) and the other files are still read.
Result<Dataset> read_dataset(const std::filesystem::path& path, const ReadOptions& options = {});

// Parses dataset text already in memory. `name` stands for the file: it is used in messages,
// for ids (its stem), to infer the split and to detect the format from its extension.
Result<Dataset> parse_dataset(std::string_view text, const std::string& name,
                              const ReadOptions& options = {});

// The format a file of this name and content would be read as; kUnsupported error otherwise.
// Extension first (.csv mmlu, .jsonl curebench or medqa by its keys, .json pubmedqa unless the
// content is one object per line), then the content for other extensions.
Result<DatasetFormat> detect_format(std::string_view text, const std::string& name);

// "val", "test", "dev" or "train" when a name-part of the file stem, else of the parent
// directory, is one of them (or a known variant: valid, validation, valset, testset, devset,
// development, trainset, training); "" otherwise. Name-parts are split on non-alphanumerics, so
// "curebench_valset_phase1.jsonl" is "val" and "contest.jsonl" is "".
std::string infer_split(const std::filesystem::path& path);

// ---------------------------------------------------------------------------------------------
// Dataset check: what `clinbench dataset check FILE` reports.
// ---------------------------------------------------------------------------------------------

struct LabelCounts {
  std::size_t items = 0;
  std::size_t labeled = 0;  // items with an answer letter
  std::size_t unlabeled() const { return items - labeled; }
};

struct SplitCheck {
  LabelCounts total;
  std::map<QuestionType, LabelCounts> by_type;
  // Labeled items among the scored types (multi_choice, open_ended_multi_choice); open_ended
  // items are never scored, so their labels do not count.
  std::size_t scored_items = 0;
  std::size_t scored_labeled = 0;
  // False when no scored item of this split has a label: no accuracy and no generalization gap
  // may be computed from this split.
  bool has_labels() const { return scored_labeled > 0; }
  // True when some but not all scored items are labeled: accuracy covers the labeled ones only.
  bool partially_labeled() const { return scored_labeled > 0 && scored_labeled < scored_items; }
};

struct DatasetCheck {
  std::string path;
  std::optional<DatasetFormat> format;  // nullopt when the file could not be read
  std::optional<Error> error;           // the file as a whole could not be read
  std::size_t rows = 0;
  LabelCounts total;
  std::map<QuestionType, LabelCounts> by_type;
  std::map<std::string, SplitCheck> by_split;  // "" is the unknown split
  std::vector<std::string> duplicate_ids;      // each id once, in order of first duplicate
  std::vector<RowIssue> issues;                // every skipped row, duplicates included
  std::map<RowProblem, std::size_t> problem_counts;

  // Splits flagged for having no labels (has_labels() false), in name order.
  std::vector<std::string> unlabeled_splits() const;
  // No file error and no row issue.
  bool ok() const { return !error && issues.empty(); }
};

// Reads the file (see read_dataset, options.strict is ignored) and summarizes it. Never fails:
// a file-level problem is in .error.
DatasetCheck check_dataset(const std::filesystem::path& path, const ReadOptions& options = {});
// Summarizes a dataset already read.
DatasetCheck check_dataset(const Dataset& dataset);

// Machine-readable form (keys documented in docs/datasets.md). Every string in it is valid
// UTF-8 (bytes of a broken file that are not are replaced by U+FFFD), so dump() does not throw.
nlohmann::json to_json(const DatasetCheck& check);
// Human-readable report: counts table, flags, duplicate ids, invalid rows as path:line: reason
// (the first 50; to_json has every one).
std::string to_text(const DatasetCheck& check);

}  // namespace clinbench
