// merge: shard run directories into one (include/clinbench/merge.h).
#include "clinbench/merge.h"

#include <fmt/format.h>

#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "clinbench/provenance.h"
#include "clinbench/select.h"
#include "clinbench/store.h"
#include "config/dataset_selection.h"
#include "run/exports.h"

namespace clinbench {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Source {
  fs::path dir;
  RunStore store;
  json config;
  json metadata;
  std::optional<std::pair<int, int>> shard;
};

// What must agree between the shards of one run: models and datasets by name and selection,
// prompts and decoding. Paths, resources, parallelism and the KV layout may differ from machine
// to machine.
json comparable(const json& cfg) {
  json c = json::object();
  c["prompts"] = cfg.value("prompts", json());
  json d = cfg.value("decoding", json::object());
  if (d.is_object()) {
    d.erase("parallel");
    d.erase("kv");
  }
  c["decoding"] = d;
  c["models"] = json::array();
  for (const auto& m : cfg.value("models", json::array())) {
    // Adapters by count and scale: shards may find the same files under other paths.
    json scales = json::array();
    for (const auto& a : m.value("adapters", json::array()))
      scales.push_back(a.value("scale", 1.0));
    c["models"].push_back({{"name", m.value("name", "")},
                           {"backend", m.value("backend", "llama")},
                           {"api_model", m.value("api_model", "")},
                           {"adapter_scales", std::move(scales)}});
  }
  c["datasets"] = json::array();
  for (const auto& ds : cfg.value("datasets", json::array())) {
    c["datasets"].push_back({{"name", ds.value("name", "")},
                             {"format", ds.value("format", "")},
                             {"split", ds.value("split", "")},
                             {"limit", ds.value("limit", json())},
                             {"seed", ds.value("seed", json())}});
  }
  return c;
}

// The first key path ("decoding/max_tokens") whose values differ, with both values.
std::optional<std::string> first_difference(const json& a, const json& b) {
  const json fa = a.flatten(), fb = b.flatten();
  std::set<std::string> keys;
  for (const auto& [k, v] : fa.items()) keys.insert(k);
  for (const auto& [k, v] : fb.items()) keys.insert(k);
  for (const auto& k : keys) {
    const json va = fa.contains(k) ? fa[k] : json("(absent)");
    const json vb = fb.contains(k) ? fb[k] : json("(absent)");
    if (va != vb) return fmt::format("{}: {} vs {}", k.substr(1), va.dump(), vb.dump());
  }
  return std::nullopt;
}

Result<Source> open_source(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(RunPaths::db(dir), ec)) {
    return make_error(ErrorCode::kNotFound,
                      fmt::format("{}: not a run directory (no run.db)", dir.string()));
  }
  auto store = RunStore::open(dir);
  if (!store) return std::unexpected(store.error());
  auto meta = store->all_metadata();
  if (!meta) return std::unexpected(meta.error());
  if (!meta->contains("config") || !(*meta)["config"].is_object()) {
    return make_error(
        ErrorCode::kCorrupt,
        fmt::format("{}: no config recorded (not written by clinbench run)", dir.string()));
  }
  Source s{dir, std::move(*store), (*meta)["config"], *meta, std::nullopt};
  const json& sh = s.config.value("shard", json());
  if (sh.is_string()) {
    auto parsed = parse_shard(sh.get<std::string>());
    if (!parsed) return std::unexpected(parsed.error().with_context(dir.string()));
    s.shard = *parsed;
  }
  return s;
}

// Metadata of the merged run: the first source's, with times spanning all of them, the datasets'
// selected counts summed, energy summed when every source measured it, and the sources listed.
json merged_metadata(const std::vector<Source>& sources, const json& merge_info) {
  json meta = sources.front().metadata;
  std::string started, finished;
  double energy_j = 0;
  bool energy_everywhere = true;
  json datasets = meta.value("datasets", json::object());
  for (size_t i = 0; i < sources.size(); ++i) {
    const json& m = sources[i].metadata;
    const std::string s = m.value(std::string(kMetadataStartedAt), "");
    const std::string f = m.value(std::string(kMetadataFinishedAt), "");
    if (!s.empty() && (started.empty() || s < started)) started = s;
    if (f > finished) finished = f;
    const json e = m.value(std::string(kMetadataEnergy), json());
    if (e.is_object() && e.contains("energy_j") && e["energy_j"].is_number()) {
      energy_j += e["energy_j"].get<double>();
    } else {
      energy_everywhere = false;
    }
    if (i == 0) continue;
    for (auto& [name, d] : datasets.items()) {
      const json other = m.value("datasets", json::object()).value(name, json::object());
      if (d.is_object() && d.contains("selected") && other.contains("selected")) {
        d["selected"] = d["selected"].get<int64_t>() + other["selected"].get<int64_t>();
      }
    }
  }
  meta["datasets"] = datasets;
  if (!started.empty()) meta[std::string(kMetadataStartedAt)] = started;
  if (!finished.empty()) meta[std::string(kMetadataFinishedAt)] = finished;
  // The meters of the first source; the total only when every source has one.
  if (meta.contains(std::string(kMetadataEnergy)) &&
      meta[std::string(kMetadataEnergy)].is_object()) {
    json& e = meta[std::string(kMetadataEnergy)];
    e["energy_j"] = energy_everywhere ? json(energy_j) : json(nullptr);
    e.erase("by_meter");
    e.erase("sampler");
  }
  meta["merge"] = merge_info;
  return meta;
}

// The output directory is new (absent or empty) and not one of the inputs.
Result<void> check_output_dir(const fs::path& out_dir, const std::vector<fs::path>& run_dirs) {
  std::error_code ec;
  const fs::path out_abs = fs::weakly_canonical(out_dir, ec);
  for (const auto& d : run_dirs) {
    if (fs::weakly_canonical(d, ec) == out_abs) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("{}: the output directory is also an input", d.string()));
    }
  }
  if (fs::exists(out_dir, ec) && !(fs::is_directory(out_dir, ec) && fs::is_empty(out_dir, ec))) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("{}: exists and is not an empty directory (merge writes a new "
                                  "run directory)",
                                  out_dir.string()));
  }
  return {};
}

// Opens every run directory; their configs must agree on what comparable() keeps.
Result<std::vector<Source>> open_sources(const std::vector<fs::path>& run_dirs) {
  std::vector<Source> sources;
  for (const auto& d : run_dirs) {
    auto s = open_source(d);
    if (!s) return std::unexpected(s.error());
    sources.push_back(std::move(*s));
  }
  const json reference = comparable(sources.front().config);
  for (size_t i = 1; i < sources.size(); ++i) {
    if (auto diff = first_difference(reference, comparable(sources[i].config))) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("{} and {} are not shards of one run: their configs differ "
                                    "at {}",
                                    sources.front().dir.string(), sources[i].dir.string(), *diff));
    }
  }
  return sources;
}

// Shards: one N for all, each index at most once; the indices not given are returned ("1/3").
Result<std::vector<std::string>> missing_shards(const std::vector<Source>& sources) {
  std::optional<int> count;
  std::map<int, fs::path> indices;
  for (const auto& s : sources) {
    if (!s.shard) continue;
    if (count && *count != s.shard->second) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("{}: shard {} is not one of {} shards like the others",
                                    s.dir.string(), format_shard(*s.shard), *count));
    }
    count = s.shard->second;
    auto [it, inserted] = indices.emplace(s.shard->first, s.dir);
    if (!inserted) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("shard {} is given twice: {} and {}", format_shard(*s.shard),
                                    it->second.string(), s.dir.string()));
    }
  }
  std::vector<std::string> missing;
  if (count) {
    for (int i = 0; i < *count; ++i) {
      if (!indices.count(i)) missing.push_back(format_shard({i, *count}));
    }
  }
  return missing;
}

using ItemKey = std::tuple<std::string, std::string, std::string>;  // (model, dataset, item id)

struct SourceItems {
  std::vector<std::vector<ItemRecord>> items;  // each source's, in the order of the sources
  std::map<ItemKey, size_t> owner;             // the source each item is in
};

// Items: each (model, dataset, id) in exactly one source, else an error listing up to ten.
Result<SourceItems> read_items(const std::vector<Source>& sources) {
  SourceItems out;
  out.items.resize(sources.size());
  std::vector<std::string> overlaps;
  size_t n_overlaps = 0;
  for (size_t i = 0; i < sources.size(); ++i) {
    auto its = sources[i].store.items();
    if (!its) return std::unexpected(its.error());
    for (auto& r : *its) {
      auto [it, inserted] = out.owner.emplace(ItemKey{r.model, r.dataset, r.item_id}, i);
      if (!inserted) {
        if (++n_overlaps <= 10) {
          overlaps.push_back(fmt::format("  model {}, dataset {}, item {}: in {} and {}", r.model,
                                         r.dataset, r.item_id, sources[it->second].dir.string(),
                                         sources[i].dir.string()));
        }
      }
    }
    out.items[i] = std::move(*its);
  }
  if (n_overlaps > 0) {
    std::string list;
    for (const auto& o : overlaps) list += "\n" + o;
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("{} item(s) are in more than one run directory; merge refuses "
                                  "overlapping runs:{}{}",
                                  n_overlaps, list, n_overlaps > 10 ? "\n  ..." : ""));
  }
  return out;
}

// The model files of the run config that are here, for the manifest to hash; a warning for each
// one that is not.
void add_model_inputs(const json& rc, json& inputs, MergeOutcome& outcome) {
  std::error_code ec;
  for (const auto& m : rc.value("models", json::array())) {
    const std::string path = m.value("path", "");
    if (m.value("backend", "llama") == "openai" || path.empty()) continue;
    if (fs::is_regular_file(path, ec)) {
      inputs["models"][m.value("name", "")] = path;
    } else {
      outcome.warnings.push_back(fmt::format(
          "model '{}': {} is not here; the manifest does not hash it", m.value("name", ""), path));
    }
    const json adapters = m.value("adapters", json::array());
    for (size_t i = 0; i < adapters.size(); ++i) {
      const std::string a = adapters[i].value("path", "");
      if (!a.empty() && fs::is_regular_file(a, ec)) {
        inputs["adapters"][adapter_input_name(m.value("name", ""), i)] = a;
      } else {
        outcome.warnings.push_back(
            fmt::format("model '{}': adapter {} is not here; the manifest does not hash it",
                        m.value("name", ""), a));
      }
    }
  }
}

// A dataset of the recorded run config, as the run read it.
DatasetConfig dataset_config(const json& dj) {
  DatasetConfig dc;
  dc.name = dj.value("name", "");
  dc.path = dj.value("path", "");
  dc.format = dj.value("format", "auto");
  dc.split = dj.value("split", "");
  if (dj.contains("limit") && dj["limit"].is_number_integer()) {
    dc.limit = dj["limit"].get<size_t>();
  }
  dc.seed = dj.value("seed", uint64_t{0});
  return dc;
}

// Gaps: the unsharded selection of every configured dataset, for every model, less the items
// some source has. The datasets read go into the inputs; one that cannot be read is a warning.
void add_dataset_gaps(const json& rc, const std::map<ItemKey, size_t>& owner, json& inputs,
                      MergeOutcome& outcome) {
  const bool strict = rc.value("decoding", json::object()).value("strict", false);
  for (const auto& dj : rc.value("datasets", json::array())) {
    const DatasetConfig dc = dataset_config(dj);
    auto sel = select_dataset(dc, strict, std::nullopt);
    if (!sel) {
      outcome.warnings.push_back(
          fmt::format("gaps of dataset '{}' not checked: {}", dc.name, sel.error().message));
      continue;
    }
    inputs["datasets"][dc.name] = dc.path;
    for (const auto& m : rc.value("models", json::array())) {
      MergeGap gap{m.value("name", ""), dc.name, {}};
      for (const auto& it : sel->items) {
        if (!owner.count(ItemKey{gap.model, dc.name, it.id})) gap.item_ids.push_back(it.id);
      }
      if (!gap.item_ids.empty()) outcome.gaps.push_back(std::move(gap));
    }
  }
}

// The "merge" metadata: the sources, the missing shards and the gaps.
json merge_info(const std::vector<Source>& sources,
                const std::vector<std::vector<ItemRecord>>& items, const MergeOutcome& outcome) {
  std::error_code ec;
  json info = {{"sources", json::array()},
               {"missing_shards", outcome.missing_shards},
               {"gaps", json::object()}};
  for (size_t i = 0; i < sources.size(); ++i) {
    info["sources"].push_back(
        {{"run_dir", fs::absolute(sources[i].dir, ec).lexically_normal().string()},
         {"shard", sources[i].config.value("shard", json())},
         {"items", items[i].size()},
         {"host", sources[i].metadata.value(std::string(kMetadataHost), json())}});
  }
  for (const auto& g : outcome.gaps) info["gaps"][g.model + "/" + g.dataset] = g.item_ids;
  return info;
}

// One model's record from its record in each source (the source's index, the record): the
// first's, with every shard's attempt log, and the strategies joined when they differ.
ModelRecord merged_model(const std::string& name,
                         const std::vector<std::pair<size_t, ModelRecord>>& recs,
                         const std::vector<Source>& sources, const json& info,
                         MergeOutcome& outcome) {
  ModelRecord merged = recs.front().second;
  json log = json::parse(merged.attempt_log, nullptr, false);
  if (!log.is_object()) log = json::object();
  json shards = json::array();
  std::set<std::string> strategies;
  for (const auto& [i, m] : recs) {
    strategies.insert(m.strategy);
    if (m.sha256 != merged.sha256) {
      outcome.warnings.push_back(
          fmt::format("model '{}': {} evaluated a different file "
                      "(sha256 {} vs {})",
                      name, sources[i].dir.string(), m.sha256, merged.sha256));
    }
    shards.push_back({{"run_dir", info["sources"][i]["run_dir"]},
                      {"strategy", m.strategy},
                      {"attempt_log", json::parse(m.attempt_log, nullptr, false)}});
  }
  if (strategies.size() > 1) {
    std::string all;
    for (const auto& s : strategies) all += (all.empty() ? "" : ",") + s;
    outcome.warnings.push_back(
        fmt::format("model '{}': shards were loaded with different strategies ({})", name, all));
    merged.strategy = all;
  }
  log["shards"] = shards;  // every shard's own attempt log
  merged.attempt_log = log.dump();
  return merged;
}

// Writes every model of the sources into the merged store, one record per name.
Result<void> write_models(RunStore& out, const std::vector<Source>& sources, const json& info,
                          MergeOutcome& outcome) {
  std::map<std::string, std::vector<std::pair<size_t, ModelRecord>>> models;
  for (size_t i = 0; i < sources.size(); ++i) {
    auto ms = sources[i].store.models();
    if (!ms) return std::unexpected(ms.error());
    for (auto& m : *ms) models[m.name].emplace_back(i, std::move(m));
  }
  for (const auto& [name, recs] : models) {
    if (auto r = out.put_model(merged_model(name, recs, sources, info, outcome)); !r) {
      return std::unexpected(r.error());
    }
  }
  return {};
}

}  // namespace

Result<MergeOutcome> merge_runs(const fs::path& out_dir, const std::vector<fs::path>& run_dirs) {
  if (run_dirs.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "merge: no run directories given");
  }
  if (auto r = check_output_dir(out_dir, run_dirs); !r) return std::unexpected(r.error());
  auto sources = open_sources(run_dirs);
  if (!sources) return std::unexpected(sources.error());
  MergeOutcome outcome;
  auto missing = missing_shards(*sources);
  if (!missing) return std::unexpected(missing.error());
  outcome.missing_shards = std::move(*missing);
  auto items = read_items(*sources);
  if (!items) return std::unexpected(items.error());

  const json& rc = sources->front().config;
  json inputs = {{"models", json::object()}, {"datasets", json::object()}, {"config", nullptr}};
  add_model_inputs(rc, inputs, outcome);
  add_dataset_gaps(rc, items->owner, inputs, outcome);

  // The merged directory.
  const json info = merge_info(*sources, items->items, outcome);
  json meta = merged_metadata(*sources, info);
  std::error_code ec;
  meta["config"]["shard"] = nullptr;
  meta["config"]["out"] = fs::absolute(out_dir, ec).lexically_normal().string();
  auto out = RunStore::open(out_dir);
  if (!out) return std::unexpected(out.error());
  for (const auto& [key, value] : meta.items()) {
    if (auto r = out->set_metadata(key, value); !r) return std::unexpected(r.error());
  }
  if (auto r = write_models(*out, *sources, info, outcome); !r) return std::unexpected(r.error());
  for (const auto& its : items->items) {
    for (const auto& r : its) {
      if (auto w = out->record_item(r); !w) return std::unexpected(w.error());
      ++outcome.items;
    }
  }
  auto summary = write_run_exports(*out, out_dir, meta.value("datasets", json::object()), inputs);
  if (!summary) return std::unexpected(summary.error());
  outcome.summary = std::move(*summary);
  return outcome;
}

}  // namespace clinbench
