#include "clinbench/run.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

#include "backend/openai_backend.h"
#include "clinbench/dataset.h"
#include "clinbench/evaluate.h"
#include "clinbench/provenance.h"
#include "clinbench/results.h"
#include "clinbench/select.h"
#include "clinbench/store.h"
#include "run/dataset_selection.h"
#include "run/remote_model.h"
#include "run/run_exports.h"

namespace clinbench {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct LoadedDataset {
  const DatasetConfig* config;
  std::vector<Item> items;  // after subset and shard
  size_t rows_skipped = 0;
};

std::string safe_name(const std::string& s) {
  std::string out;
  for (char c : s)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') ? c : '_';
  return out;
}

}  // namespace

Result<RunOutcome> run_evaluation(const RunConfig& cfg, const RunOptions& ro) {
  if (cfg.models.empty()) return make_error(ErrorCode::kInvalidArgument, "no models to evaluate");
  if (cfg.datasets.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "no datasets to evaluate on");
  }
  for (const auto& m : cfg.models) {
    if (!m.remote() && !fs::is_regular_file(m.path)) {
      return make_error(ErrorCode::kNotFound,
                        fmt::format("model '{}': {}: no such file", m.name, m.path));
    }
  }
  auto progress = [&](const RunProgress& p) {
    if (ro.progress) ro.progress(p);
  };
  RunOutcome outcome;

  // Datasets first: a bad file stops the run before any model is loaded.
  std::vector<LoadedDataset> datasets;
  json skipped = json::object();
  for (const auto& dc : cfg.datasets) {
    auto sel = select_dataset(dc, cfg.decoding.strict, cfg.shard);
    if (!sel) return std::unexpected(sel.error());
    const Dataset* ds = &sel->dataset;
    LoadedDataset ld{&dc, std::move(sel->items), ds->issues.size()};
    json issues = json::array();
    for (const auto& is : ds->issues) issues.push_back(is.to_string());
    skipped[dc.name] = {{"rows", ds->rows},
                        {"items", ds->items.size()},
                        {"selected", ld.items.size()},
                        {"skipped_rows", ds->issues.size()},
                        {"issues", issues}};
    outcome.dataset_rows_skipped += static_cast<int64_t>(ds->issues.size());
    if (!ds->issues.empty()) {
      progress({.message = fmt::format("dataset {}: {} bad row(s) skipped, e.g. {}", dc.name,
                                       ds->issues.size(), ds->issues.front().to_string())});
    }
    datasets.push_back(std::move(ld));
  }

  auto store = RunStore::open(cfg.out);
  if (!store) return std::unexpected(store.error());
  // A resumed shard must stay the shard it started as, or its items would mix two selections.
  if (auto before = store->metadata("config"); before && before->contains("shard")) {
    const json now = cfg.shard ? json(format_shard(*cfg.shard)) : json(nullptr);
    if ((*before)["shard"] != now) {
      auto name = [](const json& s) { return s.is_string() ? s.get<std::string>() : "no shard"; };
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("{}: this run directory was started with shard {}; this "
                                    "invocation asks for {} (use another --out)",
                                    cfg.out, name((*before)["shard"]), name(now)));
    }
  }
  const fs::path run_dir = cfg.out;
  fs::create_directories(RunPaths::attempts(run_dir));

  // Provenance at start (kept from the first invocation when resuming).
  json inputs = {{"models", json::object()},
                 {"datasets", json::object()},
                 {"config", ro.config_path.empty() ? json(nullptr) : json(ro.config_path)}};
  for (const auto& m : cfg.models) {
    if (!m.remote()) inputs["models"][m.name] = m.path;  // a remote model has no file to hash
  }
  for (const auto& d : cfg.datasets) inputs["datasets"][d.name] = d.path;
  if (!store->metadata(kMetadataStartedAt)) {
    if (auto r = store->set_metadata(kMetadataStartedAt, utc_timestamp()); !r) {
      return std::unexpected(r.error());
    }
    auto hashed = hash_inputs(inputs);
    if (!hashed) return std::unexpected(hashed.error());
    (void)store->set_metadata(kMetadataInputs, *hashed);
  }
  (void)store->set_metadata(kMetadataBuild, build_info());
  (void)store->set_metadata("config", to_json(cfg));
  (void)store->set_metadata("datasets", skipped);
  EnergyMeter energy;
  energy.start();

  EvalSettings settings{cfg.prompts, cfg.decoding};
  json accelerator = nullptr;  // as the loading chain saw it
  for (const auto& mc : cfg.models) {
    // Resume: only what the store does not hold yet.
    const fs::path items_path =
        RunPaths::attempts(run_dir) / (safe_name(mc.name) + ".pending.jsonl");
    int64_t pending = 0;
    {
      std::ofstream out(items_path, std::ios::trunc);
      for (const auto& ld : datasets) {
        auto done = store->finished_keys(mc.name, ld.config->name);
        if (!done) return std::unexpected(done.error());
        for (const auto& it : ld.items) {
          if (done->count(it.id)) {
            ++outcome.items_resumed;
            continue;
          }
          out << json{{"dataset", ld.config->name}, {"item", item_to_wire(it)}}.dump(
                     -1, ' ', false, json::error_handler_t::replace)
              << "\n";
          ++pending;
        }
      }
    }
    if (pending == 0) {
      progress(
          {.model = mc.name, .message = fmt::format("model {}: every item already done", mc.name)});
      fs::remove(items_path);
      continue;
    }
    progress({.model = mc.name,
              .total = pending,
              .message = fmt::format("model {}: {} {} for {} item(s)", mc.name,
                                     mc.remote() ? "evaluating through" : "loading",
                                     mc.remote() ? mc.base_url : mc.path, pending)});
    LoadOptions lo;
    lo.strategy = mc.strategy;
    lo.recipe = mc.recipe;
    lo.host_budget = mc.host_memory;
    lo.device_budget = mc.device_memory;
    lo.n_ctx = mc.ctx;
    lo.n_threads = mc.threads;
    lo.isolation = ro.isolation;
    lo.stop_after_records = true;
    lo.task = {{"kind", "eval"},
               {"items_path", items_path.string()},
               {"model", mc.name},
               {"settings", to_json(settings)}};
    RunProgress tick;
    tick.model = mc.name;
    tick.total = pending;
    const auto t0 = std::chrono::steady_clock::now();
    std::string store_error;
    lo.on_record = [&](const json& j) {
      auto rec = item_record_from_json(j);
      if (!rec) {
        store_error = rec.error().message;
        return;
      }
      if (auto r = store->record_item(*rec); !r) {
        store_error = r.error().message;
        return;
      }
      energy.sample();
      ++outcome.items_evaluated;
      ++tick.done;
      if (rec->correct) {
        ++tick.scored;
        if (*rec->correct) ++tick.correct;
      }
      for (auto t : rec->output_tokens) tick.output_tokens += t;
      tick.decode_ms += rec->decode_ms;
      tick.elapsed_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      progress(tick);
    };
    Result<AttemptLog> log;
    if (mc.remote()) {
      EvalSettings remote_settings = settings;
      std::vector<std::string> notes;
      if (settings.decoding.scoring == Scoring::kLoglik) {
        notes.push_back(fmt::format("scoring loglik unavailable: {}; scored by generation",
                                    kLoglikUnavailable));
        remote_settings.decoding.scoring = Scoring::kGenerate;
      }
      if (settings.decoding.constrained_answer) {
        notes.push_back(
            "constrained_answer unavailable (no grammar over the OpenAI API); the "
            "answer is extracted from the reply");
        remote_settings.decoding.constrained_answer = false;
      }
      for (const auto& n : notes) {
        progress({.model = mc.name, .message = "model " + mc.name + ": " + n});
      }
      log = run_remote_model(mc, items_path.string(), remote_settings, notes, lo.on_record);
    } else {
      log = run_load_chain(mc.path, lo);
    }
    if (!store_error.empty()) return make_error(ErrorCode::kIo, store_error);
    if (!log) return std::unexpected(log.error().with_context(fmt::format("model '{}'", mc.name)));
    const json log_json = to_json(*log);
    if (!mc.remote()) accelerator = log_json["accelerator"];
    const std::string stamp = utc_timestamp();
    (void)write_text_atomic(
        RunPaths::attempts(run_dir) / (safe_name(mc.name) + "." + safe_name(stamp) + ".json"),
        log_json.dump(2) + "\n");
    ModelRecord mr;
    mr.name = mc.name;
    mr.path = mc.remote() ? "" : mc.path;  // "": nothing to hash in the manifest
    mr.sha256 = log->model_sha256;
    mr.strategy = log->succeeded ? to_string(log->attempts[*log->succeeded].strategy) : "";
    mr.attempt_log = log_json.dump();
    if (auto r = store->put_model(mr); !r) return std::unexpected(r.error());
    fs::remove(items_path);
    if (log->succeeded) {
      ++outcome.models_loaded;
      const Attempt& a = log->attempts[*log->succeeded];
      progress({.model = mc.name,
                .message = fmt::format("model {}: {} item(s) with {}{}", mc.name, tick.done,
                                       to_string(a.strategy),
                                       a.outcome == Outcome::kOk ? "" : " (" + a.reason + ")")});
    } else {
      ++outcome.models_failed;
      const Attempt* last = log->attempts.empty() ? nullptr : &log->attempts.back();
      progress({.model = mc.name,
                .message = fmt::format(
                    "model {}: {}{}; {} item(s) recorded; going on", mc.name,
                    mc.remote() ? "the server could not be used" : "no strategy loaded it",
                    last ? " (last: " + last->reason + ")" : "", tick.done)});
    }
  }

  energy.stop();
  (void)store->set_metadata(kMetadataFinishedAt, utc_timestamp());
  if (energy.available()) (void)store->set_metadata(kMetadataEnergy, energy.to_json());
  json host = host_info();
  if (!accelerator.is_null()) host["accelerator"] = accelerator;
  (void)store->set_metadata(kMetadataHost, host);

  auto summary = write_run_exports(*store, run_dir, skipped, inputs);
  if (!summary) return std::unexpected(summary.error());
  outcome.summary = std::move(*summary);
  return outcome;
}

}  // namespace clinbench
