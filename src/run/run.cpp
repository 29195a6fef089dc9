// The supervisor of a run: datasets first, then every model through the loading chain (or its
// server), each finished item into the store in its own transaction, then the exports.
#include "clinbench/run.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>

#include "backend/openai_backend.h"
#include "clinbench/dataset.h"
#include "clinbench/energy.h"
#include "clinbench/evaluate.h"
#include "clinbench/load.h"
#include "clinbench/provenance.h"
#include "clinbench/select.h"
#include "clinbench/store.h"
#include "config/dataset_selection.h"
#include "run/exports.h"
#include "run/remote_model.h"
#include "util/atomic_file.h"

namespace clinbench {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct LoadedDataset {
  const DatasetConfig* config;
  std::vector<Item> items;  // after subset and shard
};

// What the run's datasets gave: their items, and what was skipped of them (results.json
// "datasets").
struct Datasets {
  std::vector<LoadedDataset> loaded;
  json summary = json::object();
};

std::string safe_name(const std::string& s) {
  std::string out;
  for (char c : s) {
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') ? c : '_';
  }
  return out;
}

Result<void> check_inputs(const RunConfig& cfg) {
  if (cfg.models.empty()) return make_error(ErrorCode::kInvalidArgument, "no models to evaluate");
  if (cfg.datasets.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "no datasets to evaluate on");
  }
  for (const auto& m : cfg.models) {
    std::error_code ec;
    if (!m.remote() && !fs::is_regular_file(m.path, ec)) {
      return make_error(ErrorCode::kNotFound,
                        fmt::format("model '{}': {}: no such file", m.name, m.path));
    }
  }
  return {};
}

// Reads every dataset first: a bad file stops the run before any model is loaded.
Result<Datasets> read_datasets(const RunConfig& cfg, const RunOptions& ro, RunOutcome& outcome) {
  Datasets out;
  for (const auto& dc : cfg.datasets) {
    auto sel = select_dataset(dc, cfg.decoding.strict, cfg.shard);
    if (!sel) return std::unexpected(sel.error());
    const Dataset& ds = sel->dataset;
    json issues = json::array();
    for (const auto& is : ds.issues) issues.push_back(is.to_string());
    out.summary[dc.name] = {{"rows", ds.rows},
                            {"items", ds.items.size()},
                            {"selected", sel->items.size()},
                            {"skipped_rows", ds.issues.size()},
                            {"issues", issues}};
    outcome.dataset_rows_skipped += static_cast<int64_t>(ds.issues.size());
    if (!ds.issues.empty() && ro.progress) {
      ro.progress({.message = fmt::format("dataset {}: {} bad row(s) skipped, e.g. {}", dc.name,
                                          ds.issues.size(), ds.issues.front().to_string())});
    }
    out.loaded.push_back({&dc, std::move(sel->items)});
  }
  return out;
}

// A metadata key of the store, nullopt when absent; a store that cannot be read is an error.
Result<std::optional<json>> stored_metadata(const RunStore& store, std::string_view key) {
  auto value = store.metadata(key);
  if (value) return std::optional<json>(std::move(*value));
  if (value.error().code == ErrorCode::kNotFound) return std::optional<json>();
  return std::unexpected(value.error());
}

// A resumed shard must stay the shard it started as, or its items would mix two selections.
Result<void> check_same_shard(const RunStore& store, const RunConfig& cfg) {
  auto before = stored_metadata(store, "config");
  if (!before) return std::unexpected(before.error());
  if (!*before || !(*before)->contains("shard")) return {};
  const json now = cfg.shard ? json(format_shard(*cfg.shard)) : json(nullptr);
  const json& then = (**before)["shard"];
  if (then == now) return {};
  auto name = [](const json& s) { return s.is_string() ? s.get<std::string>() : "no shard"; };
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("{}: this run directory was started with shard {}; this "
                                "invocation asks for {} (use another --out)",
                                cfg.out, name(then), name(now)));
}

// The manifest's inputs: {"models": {name: path}, "datasets": {name: path}, "config": path}.
json run_inputs(const RunConfig& cfg, const RunOptions& ro) {
  json inputs = {{"models", json::object()},
                 {"datasets", json::object()},
                 {"config", ro.config_path.empty() ? json(nullptr) : json(ro.config_path)}};
  for (const auto& m : cfg.models) {
    if (m.remote()) continue;  // a remote model has no file to hash
    inputs["models"][m.name] = m.path;
    for (size_t i = 0; i < m.adapters.size(); ++i) {
      inputs["adapters"][adapter_input_name(m.name, i)] = m.adapters[i].path;
    }
  }
  for (const auto& d : cfg.datasets) inputs["datasets"][d.name] = d.path;
  return inputs;
}

// Provenance at start; the start time and input hashes are kept from the first invocation when
// resuming.
Result<void> record_start(RunStore& store, const RunConfig& cfg, const json& inputs,
                          const json& datasets) {
  auto started = stored_metadata(store, kMetadataStartedAt);
  if (!started) return std::unexpected(started.error());
  if (!*started) {
    if (auto r = store.set_metadata(kMetadataStartedAt, utc_timestamp()); !r) return r;
    auto hashed = hash_inputs(inputs);
    if (!hashed) return std::unexpected(hashed.error());
    if (auto r = store.set_metadata(kMetadataInputs, *hashed); !r) return r;
  }
  if (auto r = store.set_metadata(kMetadataBuild, build_info()); !r) return r;
  if (auto r = store.set_metadata("config", to_json(cfg)); !r) return r;
  return store.set_metadata("datasets", datasets);
}

// The items of `mc` the store does not hold yet.
Result<std::vector<DatasetItem>> pending_items(const RunStore& store, const ModelConfig& mc,
                                               const Datasets& datasets, RunOutcome& outcome) {
  std::vector<DatasetItem> pending;
  for (const auto& ld : datasets.loaded) {
    auto done = store.finished_keys(mc.name, ld.config->name);
    if (!done) return std::unexpected(done.error());
    for (const auto& it : ld.items) {
      if (done->count(it.id)) {
        ++outcome.items_resumed;
      } else {
        pending.push_back({ld.config->name, it});
      }
    }
  }
  return pending;
}

LoadOptions load_options(const ModelConfig& mc, const RunOptions& ro) {
  LoadOptions lo;
  lo.strategy = mc.strategy;
  lo.recipe = mc.recipe;
  lo.host_budget = mc.host_memory;
  lo.device_budget = mc.device_memory;
  lo.n_ctx = mc.ctx;
  lo.n_threads = mc.threads;
  lo.adapters = mc.adapters;
  lo.isolation = ro.isolation;
  lo.stop_after_records = true;
  return lo;
}

// The conversations most likely to need the most KV cells, to be rendered and tokenized by the
// plan (CellsProbe): the kProbed with the most estimated tokens, counting a non-ASCII byte as a
// token (CJK text takes about one per character) and four ASCII bytes as one.
CellsProbe cells_probe(const std::vector<DatasetItem>& items, const EvalSettings& settings) {
  constexpr size_t kProbed = 8;
  std::vector<std::pair<size_t, CellsConversation>> scored;
  scored.reserve(items.size());
  for (const auto& [dataset, item] : items) {
    CellsConversation c = cells_conversation(item, settings);
    size_t ascii = 0, other = 0;
    for (const auto& m : c.messages) {
      for (const char ch : m.content) (static_cast<unsigned char>(ch) < 0x80 ? ascii : other) += 1;
    }
    scored.emplace_back(ascii / 4 + other + 512 * c.turns, std::move(c));
  }
  const size_t k = std::min(kProbed, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(k), scored.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  CellsProbe probe;
  for (size_t i = 0; i < k; ++i) {
    probe.conversations.push_back({std::move(scored[i].second.messages), scored[i].second.turns});
  }
  probe.max_tokens = static_cast<uint32_t>(settings.decoding.max_tokens);
  probe.reasoning_budget = settings.decoding.reasoning_budget;
  probe.thinking = settings.decoding.thinking;
  return probe;
}

// A served model, with what its API cannot do replaced (and said so).
Result<AttemptLog> evaluate_remote(const ModelConfig& mc, const std::vector<DatasetItem>& items,
                                   const EvalSettings& settings, const RunOptions& ro,
                                   const std::function<Result<void>(const ItemRecord&)>& sink) {
  EvalSettings remote_settings = settings;
  std::vector<std::string> notes;
  if (settings.decoding.scoring == Scoring::kLoglik) {
    notes.push_back(
        fmt::format("scoring loglik unavailable: {}; scored by generation", kLoglikUnavailable));
    remote_settings.decoding.scoring = Scoring::kGenerate;
  }
  if (settings.decoding.constrained_answer) {
    notes.push_back(
        "constrained_answer unavailable (no grammar over the OpenAI API); the answer is "
        "extracted from the reply");
    remote_settings.decoding.constrained_answer = false;
  }
  for (const auto& n : notes) {
    if (ro.progress) ro.progress({.model = mc.name, .message = "model " + mc.name + ": " + n});
  }
  return run_remote_model(mc, items, remote_settings, notes, sink);
}

// What one model's evaluation left: its attempt log, stored, and a line of progress.
Result<void> record_model(RunStore& store, const fs::path& run_dir, const ModelConfig& mc,
                          const AttemptLog& log, const json& log_json) {
  const fs::path path = RunPaths::attempts(run_dir) /
                        (safe_name(mc.name) + "." + safe_name(utc_timestamp()) + ".json");
  if (auto w = write_file_atomically(path, log_json.dump(2) + "\n"); !w) return w;
  ModelRecord mr;
  mr.name = mc.name;
  mr.path = mc.remote() ? "" : mc.path;  // "": nothing to hash in the manifest
  mr.sha256 = log.model_sha256;
  mr.strategy = log.succeeded ? strategy_name(log.attempts[*log.succeeded]) : "";
  mr.attempt_log = log_json.dump();
  return store.put_model(mr);
}

std::string model_done_message(const ModelConfig& mc, const AttemptLog& log, int64_t done) {
  if (log.succeeded) {
    const Attempt& a = log.attempts[*log.succeeded];
    return fmt::format("model {}: {} item(s) with {}{}", mc.name, done, strategy_name(a),
                       a.outcome == Outcome::kOk ? "" : " (" + a.reason + ")");
  }
  const Attempt* last = log.attempts.empty() ? nullptr : &log.attempts.back();
  return fmt::format("model {}: {}{}; {} item(s) recorded; going on", mc.name,
                     mc.remote() ? "the server could not be used" : "no strategy loaded it",
                     last ? " (last: " + last->reason + ")" : "", done);
}

// The run's state while models are evaluated.
struct RunContext {
  const RunConfig& cfg;
  const RunOptions& ro;
  RunStore& store;
  const Datasets& datasets;
  RunOutcome& outcome;
  json accelerator = nullptr;  // as the loading chain saw it
};

Result<void> evaluate_model(RunContext& run, const ModelConfig& mc) {
  auto pending = pending_items(run.store, mc, run.datasets, run.outcome);
  if (!pending) return std::unexpected(pending.error());
  auto progress = [&](const RunProgress& p) {
    if (run.ro.progress) run.ro.progress(p);
  };
  if (pending->empty()) {
    progress(
        {.model = mc.name, .message = fmt::format("model {}: every item already done", mc.name)});
    return {};
  }
  const int64_t total = static_cast<int64_t>(pending->size());
  progress({.model = mc.name,
            .total = total,
            .message = fmt::format("model {}: {} {} for {} item(s)", mc.name,
                                   mc.remote() ? "evaluating through" : "loading",
                                   mc.remote() ? mc.base_url : mc.path, total)});
  RunProgress tick{.model = mc.name, .total = total};
  const auto t0 = std::chrono::steady_clock::now();
  auto sink = [&](const ItemRecord& rec) -> Result<void> {
    if (auto r = run.store.record_item(rec); !r) return r;
    ++run.outcome.items_evaluated;
    ++tick.done;
    if (rec.correct) {
      ++tick.scored;
      if (*rec.correct) ++tick.correct;
    }
    for (auto t : rec.output_tokens) tick.output_tokens += t;
    tick.decode_ms += rec.decode_ms;
    tick.elapsed_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    progress(tick);
    return {};
  };
  EvalSettings settings{run.cfg.prompts, run.cfg.decoding};
  if (mc.thinking) settings.decoding.thinking = *mc.thinking;
  Result<AttemptLog> log;
  if (mc.remote()) {
    log = evaluate_remote(mc, *pending, settings, run.ro, sink);
  } else {
    LoadOptions lo = load_options(mc, run.ro);
    lo.n_seq = static_cast<uint32_t>(settings.decoding.parallel);  // 0: auto
    lo.max_seq = static_cast<uint32_t>(std::max<size_t>(1, pending->size()));
    lo.kv = settings.decoding.kv;
    lo.cells = cells_probe(*pending, settings);
    lo.task = EvalTask{mc.name, std::move(*pending), settings};
    lo.on_record = sink;
    log = run_load_chain(mc.path, lo);
  }
  if (!log) return std::unexpected(log.error().with_context(fmt::format("model '{}'", mc.name)));
  const json log_json = to_json(*log);
  if (!mc.remote()) run.accelerator = log_json["accelerator"];
  if (auto r = record_model(run.store, run.cfg.out, mc, *log, log_json); !r) return r;
  if (log->succeeded) {
    ++run.outcome.models_loaded;
  } else {
    ++run.outcome.models_failed;
  }
  progress({.model = mc.name, .message = model_done_message(mc, *log, tick.done)});
  return {};
}

// Provenance at the end: times, energy and the host (with the accelerator the chain saw).
Result<void> record_finish(RunStore& store, const json& energy, const json& accelerator) {
  if (auto r = store.set_metadata(kMetadataFinishedAt, utc_timestamp()); !r) return r;
  if (auto r = store.set_metadata(kMetadataEnergy, energy); !r) return r;
  json host = host_info();
  if (!accelerator.is_null()) host["accelerator"] = accelerator;
  return store.set_metadata(kMetadataHost, host);
}

}  // namespace

Result<RunOutcome> run_evaluation(const RunConfig& cfg, const RunOptions& ro) {
  if (auto r = check_inputs(cfg); !r) return std::unexpected(r.error());
  RunOutcome outcome;
  auto datasets = read_datasets(cfg, ro, outcome);
  if (!datasets) return std::unexpected(datasets.error());

  auto store = RunStore::open(cfg.out);
  if (!store) return std::unexpected(store.error());
  if (auto r = check_same_shard(*store, cfg); !r) return std::unexpected(r.error());
  std::error_code ec;
  fs::create_directories(RunPaths::attempts(cfg.out), ec);
  if (ec) {
    return make_error(
        ErrorCode::kIo,
        fmt::format("{}: cannot create: {}", RunPaths::attempts(cfg.out).string(), ec.message()));
  }
  const json inputs = run_inputs(cfg, ro);
  if (auto r = record_start(*store, cfg, inputs, datasets->summary); !r) {
    return std::unexpected(r.error());
  }

  // The whole run's energy, loading included (each item's is measured in its worker). A reading
  // a second is plenty for a total: a counter wraps after minutes at the least.
  energy::Meters meters = energy::Meters::detect();
  std::optional<energy::Sampler> sampler;
  if (!meters.empty()) {
    sampler.emplace(meters, energy::SamplerOptions{std::chrono::seconds(1)});
    sampler->start();
  }
  RunContext run{cfg, ro, *store, *datasets, outcome};
  for (const auto& mc : cfg.models) {
    if (auto r = evaluate_model(run, mc); !r) return std::unexpected(r.error());
  }
  if (sampler) sampler->stop();
  const json energy = energy::measured_json(meters, sampler ? &*sampler : nullptr);
  if (auto r = record_finish(*store, energy, run.accelerator); !r) {
    return std::unexpected(r.error());
  }
  auto summary = write_run_exports(*store, cfg.out, datasets->summary, inputs);
  if (!summary) return std::unexpected(summary.error());
  outcome.summary = std::move(*summary);
  return outcome;
}

}  // namespace clinbench
