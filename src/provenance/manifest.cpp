// manifest.json: the SHA-256 of every input and export of a run, with build and host.
#include <fmt/format.h>
#include <sys/time.h>

#include <ctime>

#include "clinbench/provenance.h"
#include "clinbench/store.h"
#include "util/atomic_file.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;

// A metadata value, or null when the key is absent.
Result<nlohmann::json> metadata_or_null(const RunStore& store, std::string_view key) {
  auto value = store.metadata(key);
  if (value) return std::move(*value);
  if (value.error().code == ErrorCode::kNotFound) return nlohmann::json(nullptr);
  return std::unexpected(value.error());
}

// The SHA-256 recorded at run start for inputs[group][name] ("config": group only).
std::string start_sha(const nlohmann::json& start, const std::string& group,
                      const std::string* name) {
  if (!start.is_object() || !start.contains(group)) return "";
  const nlohmann::json* entry = &start[group];
  if (name) {
    if (!entry->is_object() || !entry->contains(*name)) return "";
    entry = &(*entry)[*name];
  }
  if (!entry->is_object() || !entry->contains("sha256") || !(*entry)["sha256"].is_string()) {
    return "";
  }
  return (*entry)["sha256"].get<std::string>();
}

}  // namespace

std::string utc_timestamp() {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  std::tm tm{};
  gmtime_r(&tv.tv_sec, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tv.tv_usec / 1000);
}

Result<void> write_manifest(const RunStore& store, const fs::path& run_dir,
                            const nlohmann::json& inputs) {
  const std::string manifest_path = RunPaths::manifest(run_dir).string();
  auto fail = [&](const Error& e) { return std::unexpected(e.with_context(manifest_path)); };

  auto hashed = hash_inputs(inputs);
  if (!hashed) return fail(hashed.error());
  auto models = store.models();
  if (!models) return fail(models.error());
  auto start_inputs = metadata_or_null(store, kMetadataInputs);
  if (!start_inputs) return fail(start_inputs.error());

  // Models the store knows and `inputs` does not list: hash them from the recorded path.
  auto& model_inputs = (*hashed)["models"];
  for (const ModelRecord& m : *models) {
    if (model_inputs.contains(m.name) || m.path.empty()) continue;
    auto h = hash_input(m.path);
    if (!h) return fail(h.error().with_context("models." + m.name));
    model_inputs[m.name] = std::move(*h);
  }
  for (const char* group : {"models", "datasets", "adapters"}) {
    if (!hashed->contains(group)) continue;
    for (auto& [name, entry] : (*hashed)[group].items()) {
      std::string at_start = start_sha(*start_inputs, group, &name);
      if (at_start.empty() && std::string_view(group) == "models") {
        for (const ModelRecord& m : *models) {
          if (m.name == name) at_start = m.sha256;
        }
      }
      if (!at_start.empty()) entry["sha256_at_start"] = at_start;
    }
  }
  if (!(*hashed)["config"].is_null()) {
    const std::string at_start = start_sha(*start_inputs, "config", nullptr);
    if (!at_start.empty()) (*hashed)["config"]["sha256_at_start"] = at_start;
  }

  nlohmann::json exports = nlohmann::json::object();
  for (const fs::path& p : {RunPaths::samples(run_dir), RunPaths::results(run_dir)}) {
    std::error_code ec;
    if (!fs::exists(p, ec)) continue;
    auto h = hash_input(p);
    if (!h) return fail(h.error());
    const std::string name = p.filename().string();
    exports[name] = {{"path", name}, {"size", (*h)["size"]}, {"sha256", (*h)["sha256"]}};
  }

  nlohmann::ordered_json run;
  auto item_count = store.item_count();
  if (!item_count) return fail(item_count.error());
  run["items"] = *item_count;
  nlohmann::ordered_json run_models = nlohmann::ordered_json::array();
  for (const ModelRecord& m : *models) {
    run_models.push_back({{"name", m.name}, {"strategy", m.strategy}});
  }
  run["models"] = std::move(run_models);
  for (std::string_view key : {kMetadataStartedAt, kMetadataFinishedAt, kMetadataEnergy}) {
    auto v = metadata_or_null(store, key);
    if (!v) return fail(v.error());
    run[std::string(key)] = *v;
  }

  auto build = metadata_or_null(store, kMetadataBuild);
  if (!build) return fail(build.error());
  auto host = metadata_or_null(store, kMetadataHost);
  if (!host) return fail(host.error());

  nlohmann::ordered_json manifest;
  manifest["format"] = kManifestFormat;
  manifest["created_at"] = utc_timestamp();
  std::error_code ec;
  manifest["run_dir"] = fs::absolute(run_dir, ec).lexically_normal().string();
  manifest["inputs"] = {{"models", (*hashed)["models"]},
                        {"datasets", (*hashed)["datasets"]},
                        {"config", (*hashed)["config"]}};
  if (hashed->contains("adapters") && !(*hashed)["adapters"].empty()) {
    manifest["inputs"]["adapters"] = (*hashed)["adapters"];
  }
  manifest["exports"] = exports;
  manifest["run"] = std::move(run);
  manifest["build"] = build->is_null() ? build_info() : *build;
  manifest["host"] = host->is_null() ? host_info() : *host;

  const std::string text =
      manifest.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  if (auto w = write_file_atomically(RunPaths::manifest(run_dir), text); !w) {
    return std::unexpected(w.error());
  }
  return {};
}

}  // namespace clinbench
