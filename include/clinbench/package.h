// The CURE-Bench submission package (docs/provenance.md): a zip with submission.csv and
// meta_data.json at its root, built from one model's items in a run store.
//
// Contract: every fallible call returns a Result naming the file and what was wrong; nothing
// throws. The zip is written atomically (a temporary file beside it, then rename): a failed or
// interrupted write leaves any previous file at zip_path as it was.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "clinbench/error.h"
#include "clinbench/store.h"

namespace clinbench {

// Defaults here only; the CLI fills the fields it was given.
struct PackageOptions {
  std::string model_type = "clinbench-llama.cpp";  // meta_data.json "model_type"
  std::string base_model_name;                     // "" -> the model's name in the run
  std::string dataset;          // "" -> the one dataset of the model's items (error if several)
  std::string additional_info;  // "" -> a line naming clinbench, its commit and the strategy
};

struct PackageSummary {
  std::filesystem::path zip_path;
  std::string model_name;
  std::string dataset;
  int64_t items = 0;          // rows of submission.csv
  int64_t no_prediction = 0;  // rows written with "No prediction available"
  int64_t notavalue = 0;      // rows whose choice is NOTAVALUE
  double average_tokens_per_question = 0;
  nlohmann::ordered_json meta_data;  // what meta_data.json holds
};

inline constexpr std::string_view kNoPrediction = "No prediction available";
inline constexpr std::string_view kNotAValue = "NOTAVALUE";

// One RFC 4180 field, always quoted: "..." with each '"' doubled; commas, CR and LF are kept
// inside the quotes. Invalid UTF-8 is replaced by U+FFFD.
std::string csv_quote(std::string_view field);

// submission.csv: the header id,prediction,choice,reasoning and one row per item in the given
// order, every field quoted, records ended by CRLF. prediction: the open answer, or
// kNoPrediction when empty; choice: the letter, kNotAValue when empty; reasoning: the trace
// (the JSON message list), "[]" when empty.
std::string submission_csv(const std::vector<ItemRecord>& items);

// The mean over items of prompt_tokens plus every turn's output_tokens; 0 without items.
double average_tokens_per_question(const std::vector<ItemRecord>& items);

// Writes zip_path (see the contract above) from the items of (model_name, the dataset chosen).
// Errors: kNotFound for a model the store does not have (the message lists the known ones) or a
// dataset it has no items of (listing the model's datasets); kInvalidArgument when the model has
// items of several datasets and options.dataset is empty; kNotFound when it has no items; kIo
// when the zip cannot be written.
Result<PackageSummary> write_submission(const RunStore& store, const std::string& model_name,
                                        const PackageOptions& options,
                                        const std::filesystem::path& zip_path);

}  // namespace clinbench
