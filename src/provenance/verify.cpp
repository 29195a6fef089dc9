// verify: re-hash what manifest.json lists and report drift.
#include <fmt/format.h>

#include <fstream>
#include <map>
#include <sstream>

#include "clinbench/provenance.h"
#include "clinbench/store.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;

// A manifest field that must be a string; the error names the field.
Result<std::string> string_field(const nlohmann::json& entry, const char* key,
                                 const std::string& where) {
  if (!entry.is_object() || !entry.contains(key) || !entry[key].is_string()) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("{}.{}: missing or not a string", where, key));
  }
  return entry[key].get<std::string>();
}

std::map<std::string, std::string> file_hashes(const nlohmann::json& entry) {
  std::map<std::string, std::string> out;
  if (!entry.contains("files") || !entry["files"].is_array()) return out;
  for (const auto& f : entry["files"]) {
    if (f.is_object() && f.contains("path") && f["path"].is_string() && f.contains("sha256") &&
        f["sha256"].is_string()) {
      out[f["path"].get<std::string>()] = f["sha256"].get<std::string>();
    }
  }
  return out;
}

// Re-hashes one manifest entry (an input, or an export relative to run_dir).
Result<VerifyEntry> check(const std::string& kind, const std::string& name,
                          const nlohmann::json& entry, const std::string& where,
                          const fs::path& base) {
  VerifyEntry v;
  v.kind = kind;
  v.name = name;
  auto expected = string_field(entry, "sha256", where);
  if (!expected) return std::unexpected(expected.error());
  v.expected_sha256 = *expected;
  std::string path;
  if (entry.is_object() && entry.contains("resolved") && entry["resolved"].is_string()) {
    path = entry["resolved"].get<std::string>();
  } else {
    auto p = string_field(entry, "path", where);
    if (!p) return std::unexpected(p.error());
    path = *p;
  }
  v.path = fs::path(path).is_absolute() ? path : (base / path).string();

  auto now = hash_input(v.path);
  if (!now) {
    v.status = now.error().code == ErrorCode::kNotFound ? VerifyStatus::kMissing
                                                        : VerifyStatus::kUnreadable;
    v.details.push_back(now.error().message);
    return v;
  }
  v.actual_sha256 = (*now)["sha256"].get<std::string>();
  const std::string was_kind = entry.value("kind", std::string("file"));
  const std::string is_kind = (*now)["kind"].get<std::string>();
  if (was_kind != is_kind) {
    v.status = VerifyStatus::kChanged;
    v.details.push_back(fmt::format("was a {}, now a {}", was_kind, is_kind));
  } else if (v.actual_sha256 != v.expected_sha256) {
    v.status = VerifyStatus::kChanged;
    if (is_kind == "directory") {
      const auto before = file_hashes(entry), after = file_hashes(*now);
      for (const auto& [rel, sha] : before) {
        auto it = after.find(rel);
        if (it == after.end()) {
          v.details.push_back("missing: " + rel);
        } else if (it->second != sha) {
          v.details.push_back(fmt::format("changed: {} (sha256 {} -> {})", rel, sha, it->second));
        }
      }
      for (const auto& [rel, sha] : after) {
        if (!before.count(rel)) v.details.push_back("added: " + rel);
      }
    } else {
      v.details.push_back(
          fmt::format("sha256 {} in the manifest, {} now", v.expected_sha256, v.actual_sha256));
    }
  }
  if (entry.is_object() && entry.contains("sha256_at_start") &&
      entry["sha256_at_start"].is_string() &&
      entry["sha256_at_start"].get<std::string>() != v.expected_sha256) {
    v.status = VerifyStatus::kChanged;
    v.details.push_back(fmt::format("changed during the run: sha256 {} at start, {} at the end",
                                    entry["sha256_at_start"].get<std::string>(),
                                    v.expected_sha256));
  }
  return v;
}

}  // namespace

const char* to_string(VerifyStatus status) {
  switch (status) {
    case VerifyStatus::kOk:
      return "ok";
    case VerifyStatus::kChanged:
      return "changed";
    case VerifyStatus::kMissing:
      return "missing";
    case VerifyStatus::kUnreadable:
      return "unreadable";
  }
  return "?";
}

bool VerifyReport::drifted() const {
  for (const auto& e : entries) {
    if (e.status != VerifyStatus::kOk) return true;
  }
  return false;
}

size_t VerifyReport::count(VerifyStatus status) const {
  size_t n = 0;
  for (const auto& e : entries) n += e.status == status;
  return n;
}

Result<VerifyReport> verify_run(const fs::path& run_dir) {
  const fs::path path = RunPaths::manifest(run_dir);
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return make_error(ErrorCode::kNotFound,
                      fmt::format("{}: no manifest (a run writes it when it ends)", path.string()));
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return make_error(ErrorCode::kIo, fmt::format("{}: cannot read", path.string()));
  const auto manifest = nlohmann::json::parse(text.str(), nullptr, false);
  auto corrupt = [&](const std::string& what) {
    return make_error(ErrorCode::kCorrupt, fmt::format("{}: {}", path.string(), what));
  };
  if (manifest.is_discarded()) return corrupt("not valid JSON");
  if (!manifest.is_object() || !manifest.contains("format") || !manifest["format"].is_string()) {
    return corrupt("not a clinbench manifest (no \"format\")");
  }
  if (manifest["format"] != kManifestFormat) {
    return corrupt(
        fmt::format("format {} is not {}", manifest["format"].get<std::string>(), kManifestFormat));
  }
  if (!manifest.contains("inputs") || !manifest["inputs"].is_object()) {
    return corrupt("inputs: missing or not an object");
  }
  const auto& inputs = manifest["inputs"];

  VerifyReport report;
  report.manifest = path;
  auto add = [&](Result<VerifyEntry> e) -> Result<void> {
    if (!e) return std::unexpected(e.error().with_context(path.string()));
    report.entries.push_back(std::move(*e));
    return {};
  };
  static const std::pair<const char*, const char*> kGroups[] = {
      {"models", "model"}, {"datasets", "dataset"}, {"adapters", "adapter"}};
  for (const auto& [group, kind] : kGroups) {
    if (!inputs.contains(group)) continue;
    if (!inputs[group].is_object()) return corrupt(fmt::format("inputs.{}: not an object", group));
    for (const auto& [name, entry] : inputs[group].items()) {
      auto r = add(check(kind, name, entry, fmt::format("inputs.{}.{}", group, name), run_dir));
      if (!r) return std::unexpected(r.error());
    }
  }
  if (inputs.contains("config") && !inputs["config"].is_null()) {
    auto r = add(check("config", "", inputs["config"], "inputs.config", run_dir));
    if (!r) return std::unexpected(r.error());
  }
  if (manifest.contains("exports")) {
    if (!manifest["exports"].is_object()) return corrupt("exports: not an object");
    for (const auto& [name, entry] : manifest["exports"].items()) {
      auto r = add(check("export", name, entry, "exports." + name, run_dir));
      if (!r) return std::unexpected(r.error());
    }
  }
  return report;
}

nlohmann::json to_json(const VerifyReport& report) {
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& e : report.entries) {
    entries.push_back({{"kind", e.kind},
                       {"name", e.name},
                       {"path", e.path},
                       {"status", to_string(e.status)},
                       {"expected_sha256", e.expected_sha256},
                       {"actual_sha256", e.actual_sha256.empty() ? nlohmann::json(nullptr)
                                                                 : nlohmann::json(e.actual_sha256)},
                       {"details", e.details}});
  }
  nlohmann::json counts;
  for (auto s : {VerifyStatus::kOk, VerifyStatus::kChanged, VerifyStatus::kMissing,
                 VerifyStatus::kUnreadable}) {
    counts[to_string(s)] = report.count(s);
  }
  return {{"manifest", report.manifest.string()},
          {"drifted", report.drifted()},
          {"counts", std::move(counts)},
          {"entries", std::move(entries)}};
}

std::string format_verify_report(const VerifyReport& report) {
  std::string out;
  for (const auto& e : report.entries) {
    out += fmt::format("{:<10} {:<7} {:<16} {}\n", to_string(e.status), e.kind, e.name, e.path);
    for (const auto& d : e.details) out += fmt::format("{:<10} {}\n", "", d);
  }
  out += fmt::format("{}: {} inputs and exports, {} ok, {} changed, {} missing, {} unreadable\n",
                     report.drifted() ? "DRIFT" : "verified", report.entries.size(),
                     report.count(VerifyStatus::kOk), report.count(VerifyStatus::kChanged),
                     report.count(VerifyStatus::kMissing), report.count(VerifyStatus::kUnreadable));
  return out;
}

}  // namespace clinbench
