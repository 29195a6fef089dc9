// Dataset reading: the format table, format and split detection, files and directories, and the
// checks every format shares (duplicate ids, --strict).
#include "clinbench/dataset.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <unordered_map>

#include "eval/csv.h"
#include "eval/dataset_readers.h"

namespace clinbench {

namespace {

namespace fs = std::filesystem;
using detail::ReaderFn;

struct FormatEntry {
  DatasetFormat format;
  const char* name;
  ReaderFn reader;  // nullptr for kAuto
};

// The one DatasetFormat table: name and reader of each format.
constexpr std::array<FormatEntry, 5> kFormats = {{
    {DatasetFormat::kAuto, "auto", nullptr},
    {DatasetFormat::kCureBench, "curebench", detail::read_curebench},
    {DatasetFormat::kMedQa, "medqa", detail::read_medqa},
    {DatasetFormat::kMmlu, "mmlu", detail::read_mmlu},
    {DatasetFormat::kPubMedQa, "pubmedqa", detail::read_pubmedqa},
}};

constexpr std::array<std::pair<RowProblem, const char*>, 11> kRowProblemNames = {{
    {RowProblem::kEmptyFile, "empty_file"},
    {RowProblem::kBadJson, "bad_json"},
    {RowProblem::kBadCsv, "bad_csv"},
    {RowProblem::kWrongColumnCount, "wrong_column_count"},
    {RowProblem::kMissingField, "missing_field"},
    {RowProblem::kWrongType, "wrong_type"},
    {RowProblem::kInvalidValue, "invalid_value"},
    {RowProblem::kEmptyOptions, "empty_options"},
    {RowProblem::kAnswerNotInOptions, "answer_not_in_options"},
    {RowProblem::kDuplicateId, "duplicate_id"},
    {RowProblem::kUnreadable, "unreadable"},
}};

// Name-parts that name a split, and the split they name.
constexpr std::array<std::pair<const char*, const char*>, 12> kSplitWords = {{
    {"val", "val"},
    {"valid", "val"},
    {"validation", "val"},
    {"valset", "val"},
    {"test", "test"},
    {"testset", "test"},
    {"dev", "dev"},
    {"devset", "dev"},
    {"development", "dev"},
    {"train", "train"},
    {"trainset", "train"},
    {"training", "train"},
}};

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string split_of_name(const std::string& name) {
  std::string word;
  auto match = [&]() -> const char* {
    for (const auto& [spelling, split] : kSplitWords) {
      if (word == spelling) return split;
    }
    return nullptr;
  };
  for (std::size_t i = 0; i <= name.size(); ++i) {
    const char c = i < name.size() ? name[i] : '\0';
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      continue;
    }
    if (const char* split = match()) return split;
    word.clear();
  }
  return "";
}

// CURE-Bench or MedQA, from the keys of the first rows that tell them apart.
DatasetFormat sniff_jsonl(std::string_view text) {
  int looked = 0;
  for (const auto& [line, content] : detail::nonblank_lines(text)) {
    if (++looked > 50) break;
    nlohmann::json row;
    if (detail::parse_json(content, row) || !row.is_object()) continue;
    if (row.contains("question_type") || row.contains("correct_answer") || row.contains("id")) {
      return DatasetFormat::kCureBench;
    }
    if (row.contains("answer_idx")) return DatasetFormat::kMedQa;
  }
  return DatasetFormat::kCureBench;
}

// True when the first non-blank line is, on its own, a JSON object holding a question: JSONL.
bool first_line_is_row(std::string_view text) {
  auto lines = detail::nonblank_lines(text);
  if (lines.empty()) return false;
  nlohmann::json row;
  if (detail::parse_json(lines.front().second, row) || !row.is_object()) return false;
  return row.contains("question") || row.contains("question_type") || row.contains("options");
}

std::size_t line_of_source(const std::string& source) {
  auto colon = source.rfind(':');
  if (colon == std::string::npos) return 0;
  std::size_t line = 0;
  for (std::size_t i = colon + 1; i < source.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(source[i]))) return 0;
    line = line * 10 + static_cast<std::size_t>(source[i] - '0');
  }
  return line;
}

// Shared by every format: the first item of an id is kept, later ones become issues; issues in
// file order; --strict turns the first issue into the error.
Result<Dataset> finish(Dataset dataset, bool strict) {
  std::unordered_map<std::string, std::string> first_source;
  std::vector<Item> kept;
  kept.reserve(dataset.items.size());
  for (Item& item : dataset.items) {
    auto [it, inserted] = first_source.emplace(item.id, item.source);
    if (inserted) {
      kept.push_back(std::move(item));
      continue;
    }
    const std::string path = item.source.substr(0, item.source.rfind(':'));
    dataset.issues.push_back({path, line_of_source(item.source), RowProblem::kDuplicateId,
                              fmt::format("duplicate id '{}' (first at {})", item.id, it->second)});
  }
  dataset.items = std::move(kept);
  std::stable_sort(dataset.issues.begin(), dataset.issues.end(),
                   [](const RowIssue& a, const RowIssue& b) {
                     return std::tie(a.path, a.line) < std::tie(b.path, b.line);
                   });
  if (strict && !dataset.issues.empty()) {
    return make_error(ErrorCode::kCorrupt, dataset.issues.front().to_string());
  }
  return dataset;
}

Result<Dataset> parse_unfinished(std::string_view text, const std::string& name,
                                 const ReadOptions& options) {
  Dataset dataset;
  dataset.path = name;
  const bool blank = detail::is_blank(detail::strip_bom(text));
  if (options.format != DatasetFormat::kAuto) {
    dataset.format = options.format;
  } else if (auto format = detect_format(text, name)) {
    dataset.format = *format;
  } else if (!blank) {
    return std::unexpected(format.error());
  }
  if (blank) {
    dataset.issues.push_back({name, 0, RowProblem::kEmptyFile, "the file is empty"});
    return dataset;
  }
  detail::ReadContext context;
  context.path = name;
  context.stem = fs::path(name).stem().string();
  context.split = options.split.empty() ? infer_split(name) : options.split;
  for (const FormatEntry& entry : kFormats) {
    if (entry.format == dataset.format && entry.reader) {
      if (auto read = entry.reader(text, context, dataset); !read) {
        return std::unexpected(read.error());
      }
      return dataset;
    }
  }
  return make_error(ErrorCode::kInternal,
                    fmt::format("{}: no reader for format {}", name, to_string(dataset.format)));
}

Result<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error(ErrorCode::kIo,
                      fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    return make_error(ErrorCode::kIo, fmt::format("{}: read failed", path.string()));
  }
  return content.str();
}

bool is_dataset_extension(const fs::path& path) {
  const std::string ext = lower(path.extension().string());
  return ext == ".jsonl" || ext == ".ndjson" || ext == ".json" || ext == ".csv";
}

Result<Dataset> read_directory(const fs::path& dir, const ReadOptions& options) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file(ec) && is_dataset_extension(it->path())) files.push_back(it->path());
  }
  if (ec) {
    return make_error(ErrorCode::kIo,
                      fmt::format("{}: cannot list: {}", dir.string(), ec.message()));
  }
  if (files.empty()) {
    return make_error(
        ErrorCode::kNotFound,
        fmt::format("{}: no .jsonl, .json or .csv file in this directory", dir.string()));
  }
  std::sort(files.begin(), files.end());
  Dataset all;
  all.path = dir.string();
  std::set<DatasetFormat> formats;
  for (const fs::path& file : files) {
    Result<std::string> text = read_file(file);
    Result<Dataset> one =
        text ? parse_unfinished(*text, file.string(), options) : std::unexpected(text.error());
    if (!one) {
      // The message names the file (and maybe a line) already: move those into the issue.
      std::string detail = one.error().message;
      std::size_t line = 0;
      if (detail.starts_with(file.string() + ":")) {
        detail.erase(0, file.string().size() + 1);
        std::size_t digits = 0;
        while (digits < detail.size() && std::isdigit(static_cast<unsigned char>(detail[digits]))) {
          line = line * 10 + static_cast<std::size_t>(detail[digits++] - '0');
        }
        if (digits > 0 && detail.compare(digits, 1, ":") == 0)
          detail.erase(0, digits + 1);
        else
          line = 0;
        while (!detail.empty() && detail.front() == ' ') detail.erase(0, 1);
      }
      all.issues.push_back({file.string(), line, RowProblem::kUnreadable, std::move(detail)});
      continue;
    }
    formats.insert(one->format);
    all.rows += one->rows;
    std::move(one->items.begin(), one->items.end(), std::back_inserter(all.items));
    std::move(one->issues.begin(), one->issues.end(), std::back_inserter(all.issues));
  }
  all.format = formats.size() == 1 ? *formats.begin() : DatasetFormat::kAuto;
  return all;
}

}  // namespace

const char* to_string(DatasetFormat format) {
  for (const FormatEntry& entry : kFormats) {
    if (entry.format == format) return entry.name;
  }
  return "unknown";
}

std::optional<DatasetFormat> dataset_format_from_string(const std::string& text) {
  const std::string name = lower(text);
  if (name == "medmcqa") return DatasetFormat::kMedQa;
  for (const FormatEntry& entry : kFormats) {
    if (name == entry.name) return entry.format;
  }
  return std::nullopt;
}

const char* to_string(RowProblem problem) {
  for (const auto& [value, name] : kRowProblemNames) {
    if (value == problem) return name;
  }
  return "unknown";
}

std::string RowIssue::to_string() const {
  if (line == 0) return fmt::format("{}: {}", path, detail);
  return fmt::format("{}:{}: {}", path, line, detail);
}

std::string infer_split(const fs::path& path) {
  if (std::string split = split_of_name(path.stem().string()); !split.empty()) return split;
  return split_of_name(path.parent_path().filename().string());
}

Result<DatasetFormat> detect_format(std::string_view text, const std::string& name) {
  const std::string ext = lower(fs::path(name).extension().string());
  if (ext == ".csv") return DatasetFormat::kMmlu;
  if (ext == ".jsonl" || ext == ".ndjson") return sniff_jsonl(text);
  const std::string_view body = detail::strip_bom(text);
  const std::size_t first = body.find_first_not_of(" \t\r\n");
  if (ext == ".json" || (first != std::string_view::npos && body[first] == '{')) {
    if (first_line_is_row(body)) return sniff_jsonl(body);
    return DatasetFormat::kPubMedQa;
  }
  if (first != std::string_view::npos) {
    csv::Parsed parsed = csv::parse(body.substr(0, std::min<std::size_t>(body.size(), 1 << 16)));
    if (!parsed.records.empty() && parsed.records.front().fields.size() == 6) {
      return DatasetFormat::kMmlu;
    }
  }
  return make_error(ErrorCode::kUnsupported,
                    fmt::format("{}: cannot tell the dataset format from the name or the content; "
                                "name it (curebench, medqa, mmlu, pubmedqa)",
                                name));
}

Result<Dataset> parse_dataset(std::string_view text, const std::string& name,
                              const ReadOptions& options) {
  Result<Dataset> dataset = parse_unfinished(text, name, options);
  if (!dataset) return dataset;
  return finish(std::move(*dataset), options.strict);
}

Result<Dataset> read_dataset(const fs::path& path, const ReadOptions& options) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    return make_error(ErrorCode::kNotFound,
                      fmt::format("{}: no such file or directory", path.string()));
  }
  Result<Dataset> dataset;
  if (fs::is_directory(status)) {
    dataset = read_directory(path, options);
  } else if (Result<std::string> text = read_file(path); text) {
    dataset = parse_unfinished(*text, path.string(), options);
  } else {
    dataset = std::unexpected(text.error());
  }
  if (!dataset) return dataset;
  return finish(std::move(*dataset), options.strict);
}

}  // namespace clinbench
