// Exports of run.db: samples.jsonl and results.json (docs/run-directory.md).
#include <fmt/format.h>

#include "clinbench/store.h"
#include "store/run_store_impl.h"
#include "util/atomic_file.h"

namespace clinbench {
namespace {

using OrderedJson = nlohmann::ordered_json;

// Model output may hold invalid UTF-8 (a multi-byte character cut by the token budget); it is
// written with U+FFFD rather than failing the export.
std::string dump(const OrderedJson& value, int indent = -1) {
  return value.dump(indent, ' ', false, OrderedJson::error_handler_t::replace);
}

// Re-reads a JSON value keeping its keys in stored order. Stored values are validated on write,
// so a parse failure means the database was edited by hand.
Result<OrderedJson> ordered(std::string_view text, std::string_view what) {
  auto value = OrderedJson::parse(text, nullptr, false);
  if (value.is_discarded()) {
    return make_error(ErrorCode::kCorrupt, fmt::format("{} is not valid JSON", what));
  }
  return value;
}

}  // namespace

nlohmann::ordered_json item_to_json(const ItemRecord& r) {
  OrderedJson j;
  j["model"] = r.model;
  j["dataset"] = r.dataset;
  j["item_id"] = r.item_id;
  j["split"] = r.split;
  j["question_type"] = r.question_type;
  j["scoring"] = r.scoring;
  j["prompt_tokens"] = r.prompt_tokens;
  j["output_tokens"] = r.output_tokens;
  j["reasoning_chars"] = r.reasoning_chars;
  j["reasoning_tokens"] = r.reasoning_tokens;
  j["ttft_ms"] = r.ttft_ms ? OrderedJson(*r.ttft_ms) : OrderedJson(nullptr);
  j["prefill_ms"] = r.prefill_ms;
  j["decode_ms"] = r.decode_ms;
  j["tokens_per_s"] = r.tokens_per_s ? OrderedJson(*r.tokens_per_s) : OrderedJson(nullptr);
  j["choice"] = r.choice;
  j["prediction"] = r.prediction;
  j["correct_answer"] = r.correct_answer ? OrderedJson(*r.correct_answer) : OrderedJson(nullptr);
  j["correct"] = r.correct ? OrderedJson(*r.correct) : OrderedJson(nullptr);
  j["extraction_rule"] = r.extraction_rule;
  j["truncated"] = r.truncated;
  j["error"] = r.error;
  j["trace"] = r.trace;
  // extra's keys come back sorted from nlohmann::json; parse its text to keep an OrderedJson.
  auto extra = OrderedJson::parse(
      r.extra.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), nullptr, false);
  j["extra"] = extra.is_discarded() ? OrderedJson(nullptr) : std::move(extra);
  j["seq"] = r.seq;
  j["finished_at"] = r.finished_at;
  return j;
}

Result<void> RunStore::export_samples_jsonl(const std::filesystem::path& path) const {
  auto file = AtomicFile::create(path);
  if (!file) return std::unexpected(file.error());
  auto written = impl_->for_each_item({}, [&](const ItemRecord& r) -> Result<void> {
    std::string line = dump(item_to_json(r));
    line += '\n';
    return file->append(line);
  });
  if (!written) return std::unexpected(written.error().with_context("exporting " + path.string()));
  return file->commit();
}

Result<void> RunStore::export_results_json(const std::filesystem::path& path) const {
  OrderedJson out;
  out["format"] = "clinbench-results";
  out["schema_version"] = kRunStoreSchemaVersion;

  OrderedJson metadata = OrderedJson::object();
  {
    auto s = store::Statement::prepare(impl_->db.get(), impl_->file,
                                       "SELECT key, value FROM metadata ORDER BY key");
    if (!s) return std::unexpected(s.error());
    for (;;) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      const std::string key = s->column_text(0);
      auto value = ordered(s->column_text(1), fmt::format("{}: metadata \"{}\"", impl_->file, key));
      if (!value) return std::unexpected(value.error());
      metadata[key] = std::move(*value);
    }
  }
  out["metadata"] = std::move(metadata);

  auto models = this->models();
  if (!models) return std::unexpected(models.error());
  OrderedJson model_list = OrderedJson::array();
  for (const ModelRecord& m : *models) {
    auto log =
        ordered(m.attempt_log, fmt::format("{}: attempt_log of model \"{}\"", impl_->file, m.name));
    if (!log) return std::unexpected(log.error());
    OrderedJson jm;
    jm["name"] = m.name;
    jm["path"] = m.path;
    jm["sha256"] = m.sha256;
    jm["strategy"] = m.strategy;
    jm["attempt_log"] = std::move(*log);
    jm["updated_at"] = m.updated_at;
    model_list.push_back(std::move(jm));
  }
  out["models"] = std::move(model_list);

  auto counts = this->counts();
  if (!counts) return std::unexpected(counts.error());
  OrderedJson count_list = OrderedJson::array();
  for (const ItemCounts& c : *counts) {
    OrderedJson jc;
    jc["model"] = c.model;
    jc["dataset"] = c.dataset;
    jc["split"] = c.split;
    jc["question_type"] = c.question_type;
    jc["total"] = c.total;
    jc["labeled"] = c.labeled;
    jc["scored"] = c.scored;
    jc["correct"] = c.correct;
    jc["truncated"] = c.truncated;
    jc["errors"] = c.errors;
    count_list.push_back(std::move(jc));
  }
  out["counts"] = std::move(count_list);

  std::string text = dump(out, 2);
  text += '\n';
  return write_file_atomically(path, text);
}

}  // namespace clinbench
