#include "model/kv_layout_cache.h"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>

#include "clinbench/atomic_file.h"

namespace clinbench {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kFormat = "clinbench-kv-layout/1";

std::optional<fs::path> env_dir(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return fs::path(v);
}

json to_json(const json& key, const KvMeasurement& m) {
  return {{"key", key},
          {"layout", m.layout},
          {"split_tok_s", m.split_tok_s},
          {"unified_tok_s", m.unified_tok_s},
          {"depth", m.depth},
          {"steps", m.steps},
          {"unified_steps", m.unified_steps},
          {"measured_at", m.measured_at}};
}

KvMeasurement from_json(const json& e) {
  KvMeasurement m;
  m.layout = e.at("layout").get<std::string>();
  if (m.layout != "split" && m.layout != "unified") {
    throw std::runtime_error(fmt::format("layout \"{}\" is neither split nor unified", m.layout));
  }
  m.split_tok_s = e.at("split_tok_s").get<double>();
  m.unified_tok_s = e.at("unified_tok_s").get<double>();
  m.depth = e.at("depth").get<int>();
  m.steps = e.at("steps").get<int>();
  // Written before the probe could stop unified's timing early: it timed every step.
  m.unified_steps = e.contains("unified_steps") ? e["unified_steps"].get<int>() : m.steps;
  m.measured_at = e.at("measured_at").get<std::string>();
  return m;
}

}  // namespace

std::optional<fs::path> kv_layout_cache_path() {
  if (auto d = env_dir("CLINBENCH_CACHE_DIR")) return *d / "kv-layout.json";
  if (auto d = env_dir("XDG_CACHE_HOME")) return *d / "clinbench" / "kv-layout.json";
  if (auto d = env_dir("HOME")) return *d / ".cache" / "clinbench" / "kv-layout.json";
  return std::nullopt;
}

KvLayoutCache KvLayoutCache::open(fs::path path) {
  KvLayoutCache c;
  c.path_ = std::move(path);
  std::error_code ec;
  if (!fs::exists(c.path_, ec)) return c;
  std::ifstream in(c.path_);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) {
    c.problem_ = fmt::format("{} cannot be read", c.path_.string());
    return c;
  }
  try {
    const json j = json::parse(text.str());
    if (j.value("format", "") != kFormat) {
      throw std::runtime_error(fmt::format("its format is not \"{}\"", kFormat));
    }
    size_t i = 0;
    for (const json& e : j.at("entries")) {
      try {
        c.entries_.emplace_back(e.at("key"), from_json(e));
      } catch (const std::exception& ex) {
        throw std::runtime_error(fmt::format("entry {}: {}", i, ex.what()));
      }
      ++i;
    }
  } catch (const std::exception& ex) {
    c.entries_.clear();
    c.problem_ = fmt::format("{} is not a KV layout cache ({})", c.path_.string(), ex.what());
  }
  return c;
}

std::optional<KvMeasurement> KvLayoutCache::find(const json& key) const {
  for (const auto& [k, m] : entries_) {
    if (k == key) return m;
  }
  return std::nullopt;
}

Result<void> KvLayoutCache::put(const json& key, const KvMeasurement& m) {
  const auto model_path = [](const json& k) {
    return k.contains("model") && k["model"].is_object() ? k["model"].value("path", json())
                                                         : json();
  };
  const json path = model_path(key);
  std::erase_if(entries_, [&](const auto& e) {
    return e.first == key ||
           (!path.is_null() && model_path(e.first) == path && e.first["model"] != key["model"]);
  });
  entries_.emplace_back(key, m);
  if (entries_.size() > kMaxEntries) {
    entries_.erase(entries_.begin(),
                   entries_.begin() + static_cast<std::ptrdiff_t>(entries_.size() - kMaxEntries));
  }
  json entries = json::array();
  for (const auto& [k, e] : entries_) entries.push_back(to_json(k, e));
  std::error_code ec;
  fs::create_directories(path_.parent_path(), ec);
  if (ec) {
    return make_error(ErrorCode::kIo, fmt::format("cannot create {}: {}",
                                                  path_.parent_path().string(), ec.message()));
  }
  const json doc = {{"format", kFormat}, {"entries", entries}};
  return write_file_atomically(path_, doc.dump(2) + "\n");
}

}  // namespace clinbench
