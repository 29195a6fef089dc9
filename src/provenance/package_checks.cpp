// What a submission must satisfy before it is packaged: it covers every item of its dataset, it
// follows the track's protocol, and none of its fields reads back as a missing value.
#include "provenance/package_checks.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>

#include "clinbench/dataset.h"
#include "clinbench/package.h"
#include "clinbench/provenance.h"

namespace clinbench {
namespace {

using nlohmann::json;

// pandas' default na_values (pandas._libs.parsers.STR_NA_VALUES): pandas 1.5's list and "None",
// which pandas 2.0 added. The package test reads the list of the pandas it runs and checks that
// every entry is here.
constexpr std::array<std::string_view, 19> kPandasNaValues = {
    "",     "#N/A", "#N/A N/A", "#NA",  "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A",  "NA",       "NULL", "NaN",     "None",     "n/a",  "nan",  "null"};

// A metadata key, or null when the run did not record it; a store that cannot be read is an
// error.
Result<json> metadata_or_null(const RunStore& store, std::string_view key) {
  auto value = store.metadata(key);
  if (value) return std::move(*value);
  if (value.error().code == ErrorCode::kNotFound) return json();
  return std::unexpected(value.error());
}

// The run config's entry for this dataset, null when there is none.
json dataset_entry(const json& config, const std::string& dataset) {
  if (!config.is_object() || !config.contains("datasets") || !config["datasets"].is_array()) {
    return json();
  }
  for (const auto& d : config["datasets"]) {
    if (d.is_object() && d.value("name", "") == dataset) return d;
  }
  return json();
}

// "limit = 3, seed = 5", "shard 1/3", both ("; "), or "".
std::string selection_of(const json& config, const json& entry) {
  std::string out;
  if (entry.contains("limit") && entry["limit"].is_number_integer()) {
    out = fmt::format("limit = {}, seed = {}", entry["limit"].get<int64_t>(),
                      entry.value("seed", uint64_t{0}));
  }
  if (config.contains("shard") && config["shard"].is_string()) {
    out += (out.empty() ? "" : "; ") + fmt::format("shard {}", config["shard"].get<std::string>());
  }
  return out;
}

// The dataset's path and the SHA-256 recorded at run start ("" when none): the absolute path
// of metadata "inputs" when recorded (the config's may be relative to the run's directory).
std::pair<std::string, std::string> recorded_input(const json& inputs, const json& entry,
                                                   const std::string& dataset) {
  std::string path = entry.value("path", "");
  std::string sha;
  if (inputs.is_object() && inputs.contains("datasets") && inputs["datasets"].is_object() &&
      inputs["datasets"].contains(dataset) && inputs["datasets"][dataset].is_object()) {
    const json& in = inputs["datasets"][dataset];
    path = in.value("resolved", path);
    sha = in.value("sha256", "");
  }
  return {path, sha};
}

// Reads the dataset again; nullopt with `why` when it cannot be, or is not the run's.
std::optional<Dataset> reread(const json& entry, const std::string& path, const std::string& sha,
                              std::string& why) {
  if (!sha.empty()) {
    auto now = hash_input(path);
    if (!now) {
      why = now.error().message;
      return std::nullopt;
    }
    if ((*now)["sha256"] != sha) {
      why = fmt::format("{} changed since the run (sha256 {} at run start, {} now)", path, sha,
                        (*now)["sha256"].get<std::string>());
      return std::nullopt;
    }
  }
  ReadOptions ro;
  const std::string format = entry.value("format", "auto");
  if (format != "auto") {
    auto f = dataset_format_from_string(format);
    if (!f) {
      why = fmt::format("unknown format '{}' recorded", format);
      return std::nullopt;
    }
    ro.format = *f;
  }
  ro.split = entry.value("split", "");
  auto ds = read_dataset(path, ro);
  if (!ds) {
    why = ds.error().message;
    return std::nullopt;
  }
  return std::move(*ds);
}

}  // namespace

std::string first_of(const std::vector<std::string>& list, size_t shown) {
  std::string out;
  for (size_t i = 0; i < list.size() && i < shown; ++i) out += (i ? ", " : "") + list[i];
  if (list.size() > shown) out += fmt::format(" (and {} more)", list.size() - shown);
  return out;
}

std::string describe_gaps(const Coverage& c) {
  const size_t rows = static_cast<size_t>(c.dataset_items) + c.skipped_rows.size();
  std::string out = fmt::format("{} of {} items missing", c.missing(), rows);
  if (!c.missing_ids.empty()) {
    out +=
        fmt::format(": no record for {} ({})", c.missing_ids.size(), first_of(c.missing_ids, 20));
  }
  if (!c.skipped_rows.empty()) {
    out += fmt::format("{} {} row(s) skipped as invalid ({})", c.missing_ids.empty() ? ":" : ";",
                       c.skipped_rows.size(), first_of(c.skipped_rows, 5));
  }
  if (!c.selection.empty()) out += fmt::format("; the run evaluated a selection ({})", c.selection);
  return out;
}

bool reads_as_missing(std::string_view field) {
  return std::find(kPandasNaValues.begin(), kPandasNaValues.end(), field) != kPandasNaValues.end();
}

std::string missing_safe(std::string_view text) {
  std::string out(text);
  if (reads_as_missing(text)) out += ' ';
  return out;
}

std::string_view submission_choice(std::string_view choice) {
  if (choice.size() == 1 && choice[0] >= 'A' && choice[0] <= 'Z') return choice;
  return kNotAValue;
}

Result<Coverage> check_coverage(const RunStore& store, const std::string& dataset,
                                const std::vector<ItemRecord>& records) {
  auto config = metadata_or_null(store, "config");
  if (!config) return std::unexpected(config.error());
  auto inputs = metadata_or_null(store, kMetadataInputs);
  if (!inputs) return std::unexpected(inputs.error());
  Coverage c;
  const json entry = dataset_entry(*config, dataset);
  if (!entry.is_object()) {
    c.why = config->is_object()
                ? fmt::format("the run's config has no dataset '{}'", dataset)
                : std::string("the run recorded no config (not written by clinbench run)");
    return c;
  }
  c.selection = selection_of(*config, entry);
  const auto [path, sha] = recorded_input(*inputs, entry, dataset);
  c.dataset_path = path;
  auto ds = reread(entry, path, sha, c.why);
  if (!ds) return c;

  std::map<std::string, const ItemRecord*> by_id;
  for (const auto& r : records) by_id[r.item_id] = &r;
  std::set<std::string> in_dataset;
  for (const auto& it : ds->items) {
    in_dataset.insert(it.id);
    if (!by_id.count(it.id)) c.missing_ids.push_back(it.id);
  }
  for (const auto& is : ds->issues) c.skipped_rows.push_back(is.to_string());
  std::vector<std::string> extra;
  for (const auto& r : records) {
    if (!in_dataset.count(r.item_id)) extra.push_back(r.item_id);
    if (!r.error.empty()) c.errored_ids.push_back(r.item_id);
  }
  if (!extra.empty()) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("dataset '{}': {} holds no item of {} recorded id(s): {}; it "
                                  "is not the file the run read",
                                  dataset, path, extra.size(), first_of(extra, 20)));
  }
  c.checked = true;
  c.dataset_items = static_cast<int64_t>(ds->items.size());
  return c;
}

std::vector<ProtocolDeparture> protocol_departures(const std::vector<ItemRecord>& records) {
  std::map<std::string, size_t> by_scoring;
  for (const auto& r : records) {
    if (r.scoring != "generate") ++by_scoring[r.scoring];
  }
  std::vector<ProtocolDeparture> out;
  for (const auto& [scoring, n] : by_scoring) {
    const std::string name = scoring.empty() ? "(not recorded)" : scoring;
    out.push_back({fmt::format("scoring = {} for {} of {} items", name, n, records.size()),
                   fmt::format("the CURE-Bench internal-reasoning track scores generated "
                               "answers; {} runs cannot be submitted",
                               scoring.empty() ? "unrecorded-scoring" : scoring)});
  }
  return out;
}

}  // namespace clinbench
