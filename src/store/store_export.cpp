// The export of run.db: samples.jsonl (docs/run-directory.md).
#include <fmt/format.h>

#include "clinbench/store.h"
#include "store/run_store_impl.h"
#include "util/atomic_file.h"

namespace clinbench {
namespace {

using OrderedJson = nlohmann::ordered_json;

// Model output may hold invalid UTF-8 (a multi-byte character cut by the token budget); it is
// written with U+FFFD rather than failing the export.
std::string dump(const OrderedJson& value) {
  return value.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
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
  j["energy_j"] = r.energy_j ? OrderedJson(*r.energy_j) : OrderedJson(nullptr);
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

}  // namespace clinbench
