// The CURE-Bench submission package (docs/provenance.md): a zip with submission.csv and
// meta_data.json at its root, built from one model's items in a run store.
//
// Contract: every fallible call returns a Result naming the file and what was wrong; nothing
// throws. The zip is written atomically (a temporary file beside it, then rename): a failed or
// interrupted write leaves any previous file at zip_path as it was.
//
// A submission must cover every item of its dataset and follow the track's protocol
// (generation); write_submission refuses one that does not unless the options say to package it
// anyway, and then says so in meta_data.json's additional_info.
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
  // Package a run that does not cover every item of the dataset (or whose coverage cannot be
  // checked); additional_info then says it is partial and how many items are missing.
  bool partial = false;
  // Package a run that departs from the track's protocol (protocol_departures); additional_info
  // then names the departures.
  bool allow_unofficial = false;
};

// How the items of one model cover its dataset: the dataset read again from the path the run
// recorded, in full (no --limit, no shard), against the model's records.
struct Coverage {
  // False when the dataset could not be read again or may not be the one the run read; `why`
  // says what happened and nothing below is filled.
  bool checked = false;
  std::string why;
  std::string dataset_path;               // what was read
  int64_t dataset_items = 0;              // valid items of the dataset
  std::vector<std::string> missing_ids;   // items without a record, in file order
  std::vector<std::string> skipped_rows;  // rows the reader skipped: "path:line: detail"
  std::vector<std::string> errored_ids;   // recorded with an error: covered, but unanswered
  std::string selection;  // the run's own selection, when it had one: "limit = 3, seed = 5"

  int64_t missing() const { return static_cast<int64_t>(missing_ids.size() + skipped_rows.size()); }
  bool complete() const { return checked && missing() == 0; }
};

// One way a run departs from the CURE-Bench internal-reasoning protocol.
struct ProtocolDeparture {
  std::string what;  // "scoring = loglik for 4 of 5 items"
  std::string why;   // why such a run cannot be submitted
};

struct PackageSummary {
  std::filesystem::path zip_path;
  std::string model_name;
  std::string dataset;
  int64_t items = 0;          // rows of submission.csv
  int64_t no_prediction = 0;  // rows written with "No prediction available"
  int64_t notavalue = 0;      // rows whose choice is NOTAVALUE
  int64_t guarded = 0;        // fields written with a trailing space (reads_as_missing)
  double average_tokens_per_question = 0;
  Coverage coverage;
  std::vector<ProtocolDeparture> departures;  // packaged with allow_unofficial
  // What the caller should show: missing items of a partial package, items with an error.
  std::vector<std::string> warnings;
  nlohmann::ordered_json meta_data;  // what meta_data.json holds
};

inline constexpr std::string_view kNoPrediction = "No prediction available";
inline constexpr std::string_view kNotAValue = "NOTAVALUE";

// True when pandas.read_csv with its default na_values (the reader of the official evaluator)
// takes this field for a missing value: "", "NA", "N/A", "n/a", "#N/A", "#N/A N/A", "#NA",
// "NULL", "null", "NaN", "-NaN", "nan", "-nan", "None", "<NA>", "1.#IND", "-1.#IND", "1.#QNAN",
// "-1.#QNAN" (exact, case-sensitive; quoting does not change it).
bool reads_as_missing(std::string_view field);

// A free-text field (prediction, reasoning) as written: the text, with one space appended when
// reads_as_missing(text), so that it reads back as text and strip() gives the original.
std::string missing_safe(std::string_view text);

// The choice column: a single letter A..Z as it is; anything else (empty, NOTAVALUE, text) is
// kNotAValue.
std::string_view submission_choice(std::string_view choice);

// One RFC 4180 field, always quoted: "..." with each '"' doubled; commas, CR and LF are kept
// inside the quotes. Invalid UTF-8 is replaced by U+FFFD.
std::string csv_quote(std::string_view field);

// submission.csv: the header id,prediction,choice,reasoning and one row per item in the given
// order, every field quoted, records ended by CRLF. prediction: the open answer, or
// kNoPrediction when empty; choice: submission_choice; reasoning: the trace (the JSON message
// list), "[]" when empty. prediction and reasoning go through missing_safe.
std::string submission_csv(const std::vector<ItemRecord>& items);

// The mean over items of prompt_tokens plus every turn's output_tokens; 0 without items.
double average_tokens_per_question(const std::vector<ItemRecord>& items);

// Reads the dataset the run recorded under this name (metadata "config": path, format, split;
// metadata "inputs": the absolute path and SHA-256 at run start) and compares its items with the
// records. Not checked (Coverage::why) when the run recorded no config or no such dataset, the
// dataset cannot be read, or its SHA-256 differs from the one recorded at run start. Errors:
// the store cannot be read; kCorrupt when records have ids the dataset does not (listed).
Result<Coverage> check_coverage(const RunStore& store, const std::string& dataset,
                                const std::vector<ItemRecord>& records);

// Where the records depart from the protocol (docs/provenance.md): items scored by anything but
// generation (scoring = loglik), one departure per scoring. Empty when they follow it.
std::vector<ProtocolDeparture> protocol_departures(const std::vector<ItemRecord>& records);

// Writes zip_path (see the contract above) from the items of (model_name, the dataset chosen).
// Errors: kNotFound for a model the store does not have (the message lists the known ones) or a
// dataset it has no items of (listing the model's datasets); kInvalidArgument when the model has
// items of several datasets and options.dataset is empty; kNotFound when it has no items;
// kUnsupported when the run does not cover the dataset (missing ids listed) or its coverage
// cannot be checked, without options.partial; when it departs from the protocol, without
// options.allow_unofficial; when an item id reads as missing (reads_as_missing); the errors of
// check_coverage; kIo when the zip cannot be written. Nothing is written on error.
Result<PackageSummary> write_submission(const RunStore& store, const std::string& model_name,
                                        const PackageOptions& options,
                                        const std::filesystem::path& zip_path);

}  // namespace clinbench
