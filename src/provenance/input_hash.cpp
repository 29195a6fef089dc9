// SHA-256 of the inputs of a run: files, and directories file by file.
#include <fmt/format.h>

#include <algorithm>
#include <system_error>

#include "clinbench/hash.h"
#include "clinbench/provenance.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;

Error fs_error(const fs::path& path, std::string_view doing, const std::error_code& ec) {
  return Error{ErrorCode::kIo, fmt::format("{}: {}: {}", path.string(), doing, ec.message())};
}

Result<nlohmann::json> hash_directory(const fs::path& dir) {
  struct File {
    std::string rel;
    fs::path path;
  };
  std::vector<File> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, ec), end;
  if (ec) return std::unexpected(fs_error(dir, "cannot list", ec));
  for (; it != end; it.increment(ec)) {
    if (ec) return std::unexpected(fs_error(dir, "cannot list", ec));
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;  // directories, broken links, sockets, ...
    files.push_back({it->path().lexically_relative(dir).generic_string(), it->path()});
  }
  if (ec) return std::unexpected(fs_error(dir, "cannot list", ec));
  std::sort(files.begin(), files.end(), [](const File& a, const File& b) { return a.rel < b.rel; });

  nlohmann::json list = nlohmann::json::array();
  std::string listing;
  uint64_t total = 0;
  for (const File& f : files) {
    const uint64_t size = fs::file_size(f.path, ec);
    if (ec) return std::unexpected(fs_error(f.path, "cannot stat", ec));
    auto sha = sha256_file(f.path.string());
    if (!sha) return std::unexpected(sha.error());
    total += size;
    listing += fmt::format("{}  {}\n", *sha, f.rel);
    list.push_back({{"path", f.rel}, {"size", size}, {"sha256", *sha}});
  }
  nlohmann::json j;
  j["size"] = total;
  j["sha256"] = sha256_string(listing);
  j["files"] = std::move(list);
  return j;
}

}  // namespace

Result<nlohmann::json> hash_input(const fs::path& path) {
  if (path.empty()) return make_error(ErrorCode::kInvalidArgument, "empty path");
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) {
    return make_error(ErrorCode::kNotFound,
                      fmt::format("{}: no such file or directory", path.string()));
  }
  if (ec) return std::unexpected(fs_error(path, "cannot stat", ec));
  nlohmann::json j;
  j["path"] = path.string();
  j["resolved"] = fs::absolute(path, ec).lexically_normal().string();
  if (fs::is_directory(st)) {
    auto dir = hash_directory(path);
    if (!dir) return dir;
    j["kind"] = "directory";
    j["size"] = (*dir)["size"];
    j["sha256"] = (*dir)["sha256"];
    j["files"] = std::move((*dir)["files"]);
    return j;
  }
  if (!fs::is_regular_file(st)) {
    return make_error(ErrorCode::kUnsupported,
                      fmt::format("{}: neither a regular file nor a directory", path.string()));
  }
  const uint64_t size = fs::file_size(path, ec);
  if (ec) return std::unexpected(fs_error(path, "cannot stat", ec));
  auto sha = sha256_file(path.string());
  if (!sha) return std::unexpected(sha.error());
  j["kind"] = "file";
  j["size"] = size;
  j["sha256"] = *sha;
  return j;
}

std::string adapter_input_name(const std::string& model, size_t i) {
  return fmt::format("{}.adapters[{}]", model, i);
}

Result<nlohmann::json> hash_inputs(const nlohmann::json& inputs) {
  if (!inputs.is_object()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "inputs: expected an object {\"models\", \"datasets\", \"config\"}");
  }
  // Before hashing anything: a typo should not cost a pass over a 10 GB model first.
  for (const auto& [key, value] : inputs.items()) {
    if (key != "models" && key != "datasets" && key != "adapters" && key != "config") {
      return make_error(
          ErrorCode::kInvalidArgument,
          fmt::format("inputs.{}: unknown key (expected models, datasets, adapters, config)", key));
    }
  }
  nlohmann::json out;
  for (const char* group : {"models", "datasets", "adapters"}) {
    // "adapters" only when given: a run without adapters records what it always has.
    if (std::string_view(group) == "adapters" && !inputs.contains(group)) continue;
    out[group] = nlohmann::json::object();
    if (!inputs.contains(group)) continue;
    const auto& map = inputs[group];
    if (!map.is_object()) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("inputs.{}: expected an object name -> path", group));
    }
    for (const auto& [name, path] : map.items()) {
      if (!path.is_string()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("inputs.{}.{}: expected a path string", group, name));
      }
      auto h = hash_input(path.get<std::string>());
      if (!h) return std::unexpected(h.error().with_context(fmt::format("{}.{}", group, name)));
      out[group][name] = std::move(*h);
    }
  }
  out["config"] = nullptr;
  if (inputs.contains("config") && !inputs["config"].is_null()) {
    if (!inputs["config"].is_string()) {
      return make_error(ErrorCode::kInvalidArgument, "inputs.config: expected a path or null");
    }
    auto h = hash_input(inputs["config"].get<std::string>());
    if (!h) return std::unexpected(h.error().with_context("config"));
    out["config"] = std::move(*h);
  }
  return out;
}

}  // namespace clinbench
