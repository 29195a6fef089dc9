// Provenance of a run (docs/provenance.md): what built clinbench, the host it ran on, the energy
// it used where the machine exposes it, the SHA-256 of every input, manifest.json in the run
// directory and `verify`, which re-hashes the inputs the manifest lists and reports any drift.
//
// Contract:
// - Every fallible call returns a Result naming the file and what was wrong; nothing throws.
// - build_info() and host_info() never fail: a fact that cannot be read is null.
// - The supervisor records build_info(), host_info(), hash_inputs() and what the energy meters
//   measured (energy.h's measured_json) with RunStore::set_metadata under the kMetadata* keys
//   below, then calls write_manifest() after the exports at the end of the run. write_manifest()
//   reads those keys when present (build and host as they were at run start, input hashes at run
//   start).
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clinbench/error.h"

namespace clinbench {

class RunStore;

// Metadata keys (RunStore::set_metadata) that provenance defines and write_manifest reads.
inline constexpr std::string_view kMetadataBuild = "build";    // build_info()
inline constexpr std::string_view kMetadataHost = "host";      // host_info(), accelerator set
inline constexpr std::string_view kMetadataInputs = "inputs";  // hash_inputs() at run start
inline constexpr std::string_view kMetadataEnergy = "energy";  // energy::measured_json()
inline constexpr std::string_view kMetadataStartedAt = "started_at";    // utc_timestamp()
inline constexpr std::string_view kMetadataFinishedAt = "finished_at";  // utc_timestamp()

// "2025-01-31T12:34:56.789Z", the store's timestamp format, for now.
std::string utc_timestamp();

// --- build and host ------------------------------------------------------------------------

// {"clinbench_version", "clinbench_commit", "llama_cpp_commit", "compiler", "compiler_version",
//  "cxx_standard", "build_type", "flags": {"ndebug", "optimize", "sanitizers", "isa"}}.
// The commits are those CMake saw when the build directory was last configured.
nlohmann::json build_info();

// {"hostname", "os": {"name", "kernel", "version", "machine", "pretty_name"}, "cpu": {"model",
//  "logical_cores", "flags"}, "memory_bytes", "accelerator": null}. "accelerator" is left null for
// the caller (which knows what the backend found) to fill.
nlohmann::json host_info();

// --- input hashes ---------------------------------------------------------------------------

// One input: a file, or a directory and every regular file under it (recursively, symlinked
// files followed, symlinked directories not entered), in byte order of their relative paths.
// {"path": as given, "resolved": absolute path, "kind": "file" | "directory", "size": bytes
// (the sum for a directory), "sha256": the file's, or for a directory the SHA-256 of its
// listing, one line "<sha256>  <relative path>\n" per file (sha256sum's format),
// "files": [{"path", "size", "sha256"}] (directories only)}.
// kNotFound when path does not exist; kIo when a file cannot be read; kUnsupported when it is
// neither a regular file nor a directory.
Result<nlohmann::json> hash_input(const std::filesystem::path& path);

// inputs: {"models": {name: path}, "datasets": {name: path}, "adapters": {name: path},
// "config": path or null}; each may be absent. Returns the same shape with every path replaced by
// hash_input(path) (and "config" null when absent or null; "adapters" only when given). An
// adapter's name is adapter_input_name(model, i). Errors name the input ("datasets.val: ...").
Result<nlohmann::json> hash_inputs(const nlohmann::json& inputs);

// The inputs name of the i-th adapter (from 0) of model `model`: "MODEL.adapters[I]", as the
// config file's key.
std::string adapter_input_name(const std::string& model, size_t i);

// --- manifest.json and verify ---------------------------------------------------------------

inline constexpr const char* kManifestFormat = "clinbench.manifest/1";

// Writes run_dir/manifest.json atomically (docs/provenance.md): hash_inputs(inputs), the models
// of the store with the strategy that loaded them, the SHA-256 of samples.jsonl and
// results.json when they are in run_dir (write them first), build and host (the store's
// kMetadataBuild and kMetadataHost when set, else this process's), the run's start and end times
// and energy when set. An input whose SHA-256 was recorded at run start (kMetadataInputs, or the
// model's ModelRecord::sha256) carries it as "sha256_at_start", so a file that changed during
// the run shows. A model of the store that `inputs` does not list is hashed from its
// ModelRecord::path. Any input that cannot be hashed fails the call, naming it.
Result<void> write_manifest(const RunStore& store, const std::filesystem::path& run_dir,
                            const nlohmann::json& inputs);

enum class VerifyStatus {
  kOk,          // same SHA-256 as in the manifest
  kChanged,     // different content, or changed during the run (sha256_at_start differs)
  kMissing,     // the file or directory (or a file of the directory) is gone
  kUnreadable,  // it exists but cannot be read
};
const char* to_string(VerifyStatus status);

struct VerifyEntry {
  std::string kind;  // "model", "dataset", "config" or "export"
  std::string name;  // the input's name in the run ("samples.jsonl" for an export, "" config)
  std::string path;  // what was re-hashed
  VerifyStatus status = VerifyStatus::kOk;
  std::string expected_sha256;  // from the manifest
  std::string actual_sha256;    // now; "" when missing or unreadable
  // What drifted, one line each: "changed: a/b.jsonl", "missing: c.jsonl", "added: d.jsonl"
  // for directories, "changed during the run: ..." , the read error.
  std::vector<std::string> details;
};

struct VerifyReport {
  std::filesystem::path manifest;
  std::vector<VerifyEntry> entries;  // models, datasets, config, then exports; names sorted

  bool drifted() const;  // any entry not kOk
  size_t count(VerifyStatus status) const;
};

// Reads run_dir/manifest.json and re-hashes every input and export it lists. Drift is a value in
// the report, not an error; errors are only for the manifest itself: kNotFound when it is
// absent, kCorrupt when it is not valid JSON or not a clinbench manifest (the message names the
// file and the field).
Result<VerifyReport> verify_run(const std::filesystem::path& run_dir);

nlohmann::json to_json(const VerifyReport& report);
// One line per entry and a summary line, for the terminal.
std::string format_verify_report(const VerifyReport& report);

}  // namespace clinbench
