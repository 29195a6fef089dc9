// The CURE-Bench submission zip: submission.csv and meta_data.json at its root.
#include "clinbench/package.h"

#include <fmt/format.h>
#include <zip.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <memory>
#include <set>

#include "clinbench/provenance.h"
#include "provenance/package_checks.h"
#include "util/atomic_file.h"
#include "util/utf8.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;

struct ZipDiscard {
  void operator()(zip_t* z) const { zip_discard(z); }
};
using ZipPtr = std::unique_ptr<zip_t, ZipDiscard>;

struct ZipSourceFree {
  void operator()(zip_source_t* s) const { zip_source_free(s); }
};
using ZipSourcePtr = std::unique_ptr<zip_source_t, ZipSourceFree>;

Error zip_io_error(const fs::path& path, std::string_view doing, const char* why) {
  return Error{ErrorCode::kIo, fmt::format("{}: {}: {}", path.string(), doing, why)};
}

// Parses the store's "2025-01-31T12:34:56.789Z"; nullopt when it is not that.
std::optional<time_t> parse_timestamp(const std::string& ts) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(ts.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const time_t t = timegm(&tm);
  if (t == static_cast<time_t>(-1)) return std::nullopt;
  return t;
}

// Adds one file at the zip root; the bytes must outlive zip_close.
Result<void> add_entry(zip_t* z, const fs::path& zip_path, const char* name,
                       const std::string& bytes, time_t mtime) {
  zip_source_t* src = zip_source_buffer(z, bytes.data(), bytes.size(), 0);
  if (!src) return std::unexpected(zip_io_error(zip_path, name, zip_strerror(z)));
  const zip_int64_t index = zip_file_add(z, name, src, ZIP_FL_ENC_UTF_8);
  if (index < 0) {
    zip_source_free(src);  // zip_file_add takes ownership only when it succeeds
    return std::unexpected(zip_io_error(zip_path, name, zip_strerror(z)));
  }
  const auto i = static_cast<zip_uint64_t>(index);
  if (zip_file_set_mtime(z, i, mtime, 0) != 0 ||
      zip_set_file_compression(z, i, ZIP_CM_DEFLATE, 9) != 0) {
    return std::unexpected(zip_io_error(zip_path, name, zip_strerror(z)));
  }
  return {};
}

// The archive's bytes, built in memory: written through write_file_atomically like every other
// file, where libzip's own writer would rename its temporary file into place without a sync.
Result<std::string> build_zip(const fs::path& zip_path, const std::string& csv,
                              const std::string& meta, time_t mtime) {
  auto libzip_error = [&](zip_error_t* ze) {
    Error e = zip_io_error(zip_path, "cannot build the archive", zip_error_strerror(ze));
    zip_error_fini(ze);
    return std::unexpected(std::move(e));
  };
  zip_error_t ze;
  zip_error_init(&ze);
  ZipSourcePtr buffer(zip_source_buffer_create(nullptr, 0, 0, &ze));
  if (!buffer) return libzip_error(&ze);
  ZipPtr z(zip_open_from_source(buffer.get(), ZIP_TRUNCATE, &ze));
  if (!z) return libzip_error(&ze);  // the source is still ours: buffer frees it
  zip_error_fini(&ze);
  // The archive took our reference; a second one keeps the bytes readable after zip_close.
  zip_source_keep(buffer.get());
  if (auto r = add_entry(z.get(), zip_path, "submission.csv", csv, mtime); !r) {
    return std::unexpected(r.error());
  }
  if (auto r = add_entry(z.get(), zip_path, "meta_data.json", meta, mtime); !r) {
    return std::unexpected(r.error());
  }
  if (zip_close(z.get()) != 0) {  // on failure the archive stays open: z discards it
    return std::unexpected(
        zip_io_error(zip_path, "cannot build the archive", zip_strerror(z.get())));
  }
  static_cast<void>(z.release());  // zip_close freed it
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_source_stat(buffer.get(), &st) != 0 || (st.valid & ZIP_STAT_SIZE) == 0 ||
      zip_source_open(buffer.get()) != 0) {
    return std::unexpected(zip_io_error(zip_path, "cannot read the archive back",
                                        zip_error_strerror(zip_source_error(buffer.get()))));
  }
  std::string bytes(st.size, '\0');
  const zip_int64_t n = zip_source_read(buffer.get(), bytes.data(), st.size);
  zip_source_close(buffer.get());
  if (n < 0 || static_cast<zip_uint64_t>(n) != st.size) {
    return std::unexpected(zip_io_error(zip_path, "cannot read the archive back",
                                        zip_error_strerror(zip_source_error(buffer.get()))));
  }
  return bytes;
}

std::string join(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

// A store that cannot be read is an error; a run that recorded no build uses this binary's.
Result<std::string> default_additional_info(const RunStore& store, const ModelRecord* model,
                                            const std::vector<ItemRecord>& items) {
  auto build = store.metadata(kMetadataBuild);
  if (!build && build.error().code != ErrorCode::kNotFound) {
    return std::unexpected(build.error());
  }
  const nlohmann::json b = build ? *build : build_info();
  auto str = [&](const char* key) {
    return b.contains(key) && b[key].is_string() ? b[key].get<std::string>() : "unknown";
  };
  std::set<std::string> scoring;
  for (const auto& it : items) scoring.insert(it.scoring);
  return fmt::format(
      "Evaluated with clinbench {} (commit {}) on llama.cpp {}; strategy {}; "
      "scoring {}",
      str("clinbench_version"), str("clinbench_commit"), str("llama_cpp_commit"),
      model && !model->strategy.empty() ? model->strategy : "unknown", join(scoring));
}

// The adapters the model's attempt log records (path, sha256, scale), or none.
std::vector<nlohmann::json> recorded_adapters(const ModelRecord* model) {
  std::vector<nlohmann::json> out;
  if (model == nullptr || model->attempt_log.empty()) return out;
  const auto log = nlohmann::json::parse(model->attempt_log, nullptr, false);
  if (!log.is_object() || !log.contains("adapters") || !log["adapters"].is_array()) return out;
  for (const auto& a : log["adapters"]) {
    if (a.is_object() && a.contains("path") && a["path"].is_string()) out.push_back(a);
  }
  return out;
}

// "LoRA adapters: a.gguf (sha256 0123456789ab, scale 0.5), ...".
std::string adapters_info(const std::vector<nlohmann::json>& adapters) {
  std::string out;
  for (const auto& a : adapters) {
    const std::string sha = a.contains("sha256") && a["sha256"].is_string()
                                ? a["sha256"].get<std::string>().substr(0, 12)
                                : std::string("not hashed");
    const double scale =
        a.contains("scale") && a["scale"].is_number() ? a["scale"].get<double>() : 1.0;
    out += fmt::format("{}{} (sha256 {}, scale {})", out.empty() ? "LoRA adapters: " : ", ",
                       fs::path(a["path"].get<std::string>()).filename().string(), sha, scale);
  }
  return out;
}

}  // namespace

std::string csv_quote(std::string_view field) {
  std::string out;
  out.reserve(field.size() + 2);
  out += '"';
  for (char c : valid_utf8(field)) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string submission_csv(const std::vector<ItemRecord>& items) {
  std::string out = csv_quote("id") + "," + csv_quote("prediction") + "," + csv_quote("choice") +
                    "," + csv_quote("reasoning") + "\r\n";
  for (const auto& it : items) {
    out += csv_quote(it.item_id);
    out += ',';
    out += csv_quote(
        missing_safe(it.prediction.empty() ? kNoPrediction : std::string_view(it.prediction)));
    out += ',';
    out += csv_quote(submission_choice(it.choice));
    out += ',';
    out += csv_quote(missing_safe(it.trace.empty() ? std::string_view("[]") : it.trace));
    out += "\r\n";
  }
  return out;
}

double average_tokens_per_question(const std::vector<ItemRecord>& items) {
  if (items.empty()) return 0;
  double total = 0;
  for (const auto& it : items) {
    total += static_cast<double>(it.prompt_tokens);
    for (int64_t t : it.output_tokens) total += static_cast<double>(t);
  }
  return total / static_cast<double>(items.size());
}

namespace {

// The dataset to package: options.dataset, or the model's only one. Errors as write_submission.
Result<std::string> choose_dataset(const RunStore& store, const std::string& model_name,
                                   const PackageOptions& options, const ModelRecord** model,
                                   const std::vector<ModelRecord>& models) {
  const std::string db = RunPaths::db(store.run_dir()).string();
  auto fail = [&](ErrorCode code, const std::string& what) {
    return make_error(code, fmt::format("{}: {}", db, what));
  };
  auto counts = store.counts();
  if (!counts) return std::unexpected(counts.error());
  std::set<std::string> known, datasets;
  for (const auto& m : models) {
    known.insert(m.name);
    if (m.name == model_name) *model = &m;
  }
  for (const auto& c : *counts) {
    known.insert(c.model);
    if (c.model == model_name) datasets.insert(c.dataset);
  }
  if (!known.count(model_name)) {
    return fail(ErrorCode::kNotFound, fmt::format("unknown model '{}' (models in this run: {})",
                                                  model_name, join(known)));
  }
  if (datasets.empty()) {
    return fail(ErrorCode::kNotFound,
                fmt::format("model '{}' has no items in this run: nothing to package", model_name));
  }
  if (options.dataset.empty()) {
    if (datasets.size() > 1) {
      return fail(ErrorCode::kInvalidArgument,
                  fmt::format("model '{}' has items of several datasets ({}): choose one "
                              "(--dataset)",
                              model_name, join(datasets)));
    }
    return *datasets.begin();
  }
  if (!datasets.count(options.dataset)) {
    return fail(ErrorCode::kNotFound,
                fmt::format("model '{}' has no items of dataset '{}' (its datasets: {})",
                            model_name, options.dataset, join(datasets)));
  }
  return options.dataset;
}

// What the checks add to additional_info when their refusal was overridden.
struct CheckNotes {
  std::vector<std::string> refusals;  // without an override: the package is not written
  std::vector<std::string> notes;     // with one: appended to additional_info
};

// Coverage and protocol (docs/provenance.md): fills s.coverage, s.departures and s.warnings.
Result<CheckNotes> check_submission(const RunStore& store, const std::vector<ItemRecord>& items,
                                    const PackageOptions& options, PackageSummary& s) {
  CheckNotes out;
  for (const auto& it : items) {
    if (reads_as_missing(it.item_id)) {
      out.refusals.push_back(fmt::format(
          "item id '{}' reads back as a missing value in pandas (the official evaluator's CSV "
          "reader), so no answer could be matched to it",
          it.item_id));
    }
  }
  auto coverage = check_coverage(store, s.dataset, items);
  if (!coverage) return std::unexpected(coverage.error());
  s.coverage = std::move(*coverage);
  const Coverage& c = s.coverage;
  const std::string who = fmt::format("model '{}'", s.model_name);
  if (!c.checked && options.partial) {
    out.notes.push_back(fmt::format("PARTIAL: coverage of the dataset not checked ({})", c.why));
    s.warnings.push_back(
        fmt::format("partial package: coverage of dataset '{}' not checked: {}", s.dataset, c.why));
  } else if (!c.checked) {
    out.refusals.push_back(fmt::format(
        "cannot check that {} covers dataset '{}': {}; --partial packages it without the check",
        who, s.dataset, c.why));
  } else if (!c.complete()) {
    const std::string gaps = describe_gaps(c);
    if (options.partial) {
      out.notes.push_back(
          fmt::format("PARTIAL: {} of {} items of the dataset missing", c.missing(),
                      c.dataset_items + static_cast<int64_t>(c.skipped_rows.size())));
      s.warnings.push_back(fmt::format("partial package: {} on dataset '{}' ({}): {}", who,
                                       s.dataset, c.dataset_path, gaps));
    } else {
      out.refusals.push_back(
          fmt::format("{} does not cover dataset '{}' ({}): {}; --partial "
                      "packages it anyway",
                      who, s.dataset, c.dataset_path, gaps));
    }
  }
  if (!c.errored_ids.empty()) {
    s.warnings.push_back(
        fmt::format("{} item(s) were recorded with an error and go unanswered "
                    "into the package: {}",
                    c.errored_ids.size(), first_of(c.errored_ids, 20)));
  }
  s.departures = protocol_departures(items);
  for (const auto& d : s.departures) {
    if (options.allow_unofficial) {
      out.notes.push_back(fmt::format("UNOFFICIAL: {} (--allow-unofficial)", d.what));
      s.warnings.push_back(fmt::format("unofficial package: {}: {}", d.what, d.why));
    } else {
      out.refusals.push_back(
          fmt::format("{}: {}; --allow-unofficial packages it anyway", d.what, d.why));
    }
  }
  return out;
}

}  // namespace

Result<PackageSummary> write_submission(const RunStore& store, const std::string& model_name,
                                        const PackageOptions& options, const fs::path& zip_path) {
  const std::string db = RunPaths::db(store.run_dir()).string();
  auto models = store.models();
  if (!models) return std::unexpected(models.error());
  const ModelRecord* model = nullptr;
  auto dataset = choose_dataset(store, model_name, options, &model, *models);
  if (!dataset) return std::unexpected(dataset.error());
  auto items = store.items({.model = model_name, .dataset = *dataset});
  if (!items) return std::unexpected(items.error());
  if (items->empty()) {
    return make_error(ErrorCode::kNotFound, fmt::format("{}: model '{}' has no items of dataset "
                                                        "'{}'",
                                                        db, model_name, *dataset));
  }

  PackageSummary s;
  s.zip_path = zip_path;
  s.model_name = model_name;
  s.dataset = *dataset;
  auto checks = check_submission(store, *items, options, s);
  if (!checks) return std::unexpected(checks.error());
  if (!checks->refusals.empty()) {
    std::string all;
    for (const auto& r : checks->refusals) all += (all.empty() ? "" : "; also ") + r;
    return make_error(ErrorCode::kUnsupported, fmt::format("{}: not packaged: {}", db, all));
  }
  s.items = static_cast<int64_t>(items->size());
  s.average_tokens_per_question = average_tokens_per_question(*items);
  std::string latest;
  for (const auto& it : *items) {
    s.no_prediction += it.prediction.empty();
    s.notavalue += submission_choice(it.choice) == kNotAValue;
    s.guarded += (!it.prediction.empty() && reads_as_missing(it.prediction)) +
                 (!it.trace.empty() && reads_as_missing(it.trace));
    latest = std::max(latest, it.finished_at);
  }

  nlohmann::ordered_json meta;
  meta["model_name"] = model_name;
  meta["model_type"] = options.model_type;
  meta["track"] = "internal_reasoning";
  meta["base_model_type"] = "OpenWeighted";
  // A fine-tune (a base with adapters) names its base: the base GGUF's file stem.
  const auto adapters = recorded_adapters(model);
  std::string base_name = model_name;
  if (!adapters.empty() && model != nullptr && !model->path.empty()) {
    base_name = fs::path(model->path).stem().string();
  }
  meta["base_model_name"] = options.base_model_name.empty() ? base_name : options.base_model_name;
  meta["dataset"] = s.dataset;
  std::string info = options.additional_info;
  if (info.empty()) {
    auto made = default_additional_info(store, model, *items);
    if (!made) return std::unexpected(made.error());
    info = std::move(*made);
  }
  if (!adapters.empty()) info += "; " + adapters_info(adapters);
  for (const auto& note : checks->notes) info += "; " + note;
  meta["additional_info"] = std::move(info);
  meta["average_tokens_per_question"] = s.average_tokens_per_question;
  s.meta_data = meta;

  const std::string csv = submission_csv(*items);
  const std::string meta_text =
      meta.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  // The entries carry the time the last item finished, so packaging the same run twice gives
  // the same bytes.
  const time_t mtime = parse_timestamp(latest).value_or(std::time(nullptr));
  auto bytes = build_zip(zip_path, csv, meta_text, mtime);
  if (!bytes) return std::unexpected(bytes.error());
  if (auto w = write_file_atomically(zip_path, *bytes); !w) return std::unexpected(w.error());
  return s;
}

}  // namespace clinbench
