// The KV layout probe's results kept between runs on this machine (docs/attempt-log.md, "The KV
// layout"): `kv = "auto"` measures a shape once, and a later attempt of the same shape (model
// file, strategy, widths, threads, device, llama.cpp build, host) takes the layout measured then
// instead of paying the measurement again.
//
// The file is `kv-layout.json` in $CLINBENCH_CACHE_DIR, else $XDG_CACHE_HOME/clinbench, else
// $HOME/.cache/clinbench: {"format": "clinbench-kv-layout/1", "entries": [{"key": {...},
// "layout", "split_tok_s", "unified_tok_s", "depth", "steps", "unified_steps",
// "measured_at"}]}. It is derived
// data: one that cannot be read is replaced by the next measurement (the attempt notes why), and
// deleting it makes the next runs measure again.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "clinbench/error.h"

namespace clinbench {

struct KvMeasurement {
  std::string layout;  // "split" | "unified": the one kept
  double split_tok_s = 0;
  double unified_tok_s = 0;
  int depth = 0;
  int steps = 0;            // split's timed steps
  int unified_steps = 0;    // unified's: fewer when it gave up early, clearly the slower
  std::string measured_at;  // UTC, ISO 8601
};

// The cache file from the environment (above); nullopt when none of the variables is set.
std::optional<std::filesystem::path> kv_layout_cache_path();

class KvLayoutCache {
 public:
  // Reads `path`. A missing file is an empty cache; one that cannot be read or parsed is an
  // empty cache too, with problem() saying why.
  static KvLayoutCache open(std::filesystem::path path);

  // The measurement recorded under exactly this key.
  std::optional<KvMeasurement> find(const nlohmann::json& key) const;
  // Records m under key (replacing one there) and rewrites the file atomically, creating its
  // directory. Entries of the same model path whose key["model"] differs go (the file was
  // replaced or rewritten: they can never match again), and the oldest go beyond kMaxEntries.
  // Errors (kIo) name the file.
  Result<void> put(const nlohmann::json& key, const KvMeasurement& m);

  static constexpr size_t kMaxEntries = 256;

  const std::filesystem::path& path() const { return path_; }
  const std::string& problem() const { return problem_; }

 private:
  std::filesystem::path path_;
  std::string problem_;
  std::vector<std::pair<nlohmann::json, KvMeasurement>> entries_;
};

}  // namespace clinbench
