// Internal to the dataset readers: one function per format, registered in the reader table in
// dataset.cpp, and the row-validation helpers they share.
#pragma once

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "clinbench/dataset.h"

namespace clinbench::detail {

struct ReadContext {
  std::string path;   // for messages and Item::source
  std::string stem;   // file name without extension, for derived ids
  std::string split;  // given or inferred
};

// A reader appends valid items and row issues to `out` (items and rows counted by the reader).
// An Error means the file as a whole is unusable.
using ReaderFn = Result<void> (*)(std::string_view text, const ReadContext& context, Dataset& out);

Result<void> read_curebench(std::string_view text, const ReadContext& context, Dataset& out);
Result<void> read_medqa(std::string_view text, const ReadContext& context, Dataset& out);
Result<void> read_mmlu(std::string_view text, const ReadContext& context, Dataset& out);
Result<void> read_pubmedqa(std::string_view text, const ReadContext& context, Dataset& out);

// Non-blank lines of `text` with their 1-based numbers; CR before LF and a leading UTF-8 BOM
// are dropped.
std::vector<std::pair<std::size_t, std::string_view>> nonblank_lines(std::string_view text);

std::string_view strip_bom(std::string_view text);
std::string trim(std::string_view text);
bool is_blank(std::string_view text);

// A row problem, as the helpers below report it.
struct Problem {
  RowProblem problem;
  std::string detail;
};

// Parses one JSON value; on failure the problem says where in the line it broke.
std::optional<Problem> parse_json(std::string_view text, nlohmann::json& out);

// Reads `options` (object letter -> text) into `out`. Keys are trimmed and upper-cased and must
// be one letter; values must be strings.
std::optional<Problem> read_options(const nlohmann::json& options,
                                    std::map<std::string, std::string>& out);

// Normalizes an answer ("b", " B ", "(B)", "B." -> "B"); nullopt when it is not one letter.
std::optional<std::string> normalize_letter(std::string_view text);

// "A, B, C, D" for messages.
std::string letters_of(const std::map<std::string, std::string>& options);

}  // namespace clinbench::detail
