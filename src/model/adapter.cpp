#include "clinbench/adapter.h"

#include <fmt/format.h>
#include <ggml.h>
#include <gguf.h>

#include <charconv>
#include <cmath>
#include <map>
#include <optional>

#include "clinbench/hash.h"
#include "model/gguf_file.h"

namespace clinbench {

namespace {

constexpr std::string_view kLoraA = ".lora_a";
constexpr std::string_view kLoraB = ".lora_b";

// The halves of one target's pair as the file holds them.
struct Pair {
  const ggml_tensor* a = nullptr;
  const ggml_tensor* b = nullptr;
};

std::optional<float> parse_float(std::string_view s) {
  float v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string shape(const ggml_tensor* t) { return fmt::format("[{}, {}]", t->ne[0], t->ne[1]); }

// adapter.lora.alpha, which converters write as f32 (some as another number type).
Result<float> read_alpha(const gguf_context* g, const std::string& path) {
  const int64_t id = gguf_find_key(g, "adapter.lora.alpha");
  if (id < 0) return 0.0f;
  switch (gguf_get_kv_type(g, id)) {
    case GGUF_TYPE_FLOAT32:
      return gguf_get_val_f32(g, id);
    case GGUF_TYPE_FLOAT64:
      return static_cast<float>(gguf_get_val_f64(g, id));
    case GGUF_TYPE_UINT32:
      return static_cast<float>(gguf_get_val_u32(g, id));
    case GGUF_TYPE_INT32:
      return static_cast<float>(gguf_get_val_i32(g, id));
    default:
      return make_error(ErrorCode::kCorrupt,
                        fmt::format("adapter {}: adapter.lora.alpha is a {}, not a number", path,
                                    gguf_type_name(gguf_get_kv_type(g, id))));
  }
}

// The lora_a/lora_b pairs by target name, in file order; norms (which llama.cpp skips) left out.
Result<std::vector<std::pair<std::string, Pair>>> read_pairs(const GgufFile& file,
                                                             const std::string& path) {
  std::vector<std::pair<std::string, Pair>> pairs;
  std::map<std::string, size_t> index;
  const gguf_context* g = file.gguf.get();
  for (int64_t i = 0; i < gguf_get_n_tensors(g); ++i) {
    std::string name = gguf_get_tensor_name(g, i);
    const ggml_tensor* t = ggml_get_tensor(file.meta.get(), name.c_str());
    const bool is_a = name.ends_with(kLoraA);
    if (!is_a && !name.ends_with(kLoraB)) {
      if (name.ends_with("_norm.weight")) continue;
      return make_error(ErrorCode::kCorrupt,
                        fmt::format("adapter {}: tensor '{}' is neither a .lora_a nor a .lora_b "
                                    "(not a LoRA adapter?)",
                                    path, name));
    }
    if (ggml_n_dims(t) > 2) {
      return make_error(ErrorCode::kCorrupt,
                        fmt::format("adapter {}: tensor '{}' has {} dimensions, not 2", path, name,
                                    ggml_n_dims(t)));
    }
    const std::string target = name.substr(0, name.size() - kLoraA.size());
    auto [it, added] = index.emplace(target, pairs.size());
    if (added) pairs.push_back({target, {}});
    Pair& p = pairs[it->second].second;
    (is_a ? p.a : p.b) = t;
  }
  for (const auto& [target, p] : pairs) {
    if (p.a == nullptr || p.b == nullptr) {
      return make_error(ErrorCode::kCorrupt,
                        fmt::format("adapter {}: '{}' has a {} but no {}", path, target,
                                    p.a ? kLoraA.substr(1) : kLoraB.substr(1),
                                    p.a ? kLoraB.substr(1) : kLoraA.substr(1)));
    }
  }
  if (pairs.empty()) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("adapter {}: no lora_a/lora_b tensors", path));
  }
  return pairs;
}

// The pair fits its base tensor as llama.cpp multiplies them: the rank of the pair, or an error
// naming the tensor, its shape and the base's.
Result<uint32_t> check_pair(const std::string& path, const std::string& target, const Pair& p,
                            const TensorInfo& base) {
  const int64_t n_in = base.ne[0], n_out = base.ne[1];
  const bool token_embd = target.ends_with("token_embd.weight");
  // token_embd's pair is stored the other way round (llama.cpp's llm_build_inp_embd).
  const bool fits = token_embd ? (p.b->ne[1] == n_in && p.a->ne[1] == n_out)
                               : (p.a->ne[0] == n_in && p.b->ne[1] == n_out);
  if (!fits) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("adapter {}: '{}' is lora_a {} x lora_b {}, which does not fit "
                                  "the base's {} of shape [{}, {}] (an adapter for another model "
                                  "size?)",
                                  path, target, shape(p.a), shape(p.b), target, n_in, n_out));
  }
  const int64_t rank = token_embd ? p.a->ne[0] : p.a->ne[1];
  const int64_t rank_b = p.b->ne[0];
  if (rank != rank_b || rank <= 0) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("adapter {}: '{}' has lora_a {} and lora_b {}, whose ranks "
                                  "differ ({} and {})",
                                  path, target, shape(p.a), shape(p.b), rank, rank_b));
  }
  return static_cast<uint32_t>(rank);
}

}  // namespace

Result<AdapterSpec> parse_adapter_spec(const std::string& text, const std::string& flag) {
  AdapterSpec spec{text, 1.0f};
  const size_t colon = text.rfind(':');
  if (colon != std::string::npos) {
    const std::string_view tail = std::string_view(text).substr(colon + 1);
    if (auto scale = parse_float(tail)) {
      spec.path = text.substr(0, colon);
      spec.scale = *scale;
    } else if (!tail.empty() && (std::isdigit(static_cast<unsigned char>(tail[0])) ||
                                 tail[0] == '-' || tail[0] == '.')) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("{}: '{}': the scale '{}' is not a number", flag, text, tail));
    }
  }
  if (spec.path.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("{}: '{}' names no adapter file", flag, text));
  }
  if (!std::isfinite(spec.scale)) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("{}: '{}': the scale is not finite", flag, text));
  }
  return spec;
}

std::string to_string(const AdapterSpec& spec) {
  return spec.scale == 1.0f ? spec.path : fmt::format("{}:{}", spec.path, spec.scale);
}

Result<AdapterInfo> check_adapter(const AdapterSpec& spec, const ModelInfo& base,
                                  const AdapterCheckOptions& options) {
  const std::string& path = spec.path;
  if (!std::isfinite(spec.scale)) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("adapter {}: scale {} is not finite", path, spec.scale));
  }
  auto file = open_gguf(path);
  if (!file) return std::unexpected(file.error().with_context("adapter"));
  const gguf_context* g = file->gguf.get();
  AdapterInfo info;
  info.path = path;
  info.scale = spec.scale;
  const std::string general_type = gguf_string(g, "general.type");
  if (general_type != "adapter") {
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("adapter {}: general.type is '{}', not 'adapter'{}", path, general_type,
                    general_type == "model" || general_type.empty() ? " (a model file?)" : ""));
  }
  const std::string adapter_type = gguf_string(g, "adapter.type");
  if (adapter_type != "lora") {
    return make_error(
        ErrorCode::kUnsupported,
        fmt::format("adapter {}: adapter.type is '{}', not 'lora'", path, adapter_type));
  }
  info.architecture = gguf_string(g, "general.architecture");
  if (info.architecture != base.architecture) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("adapter {}: architecture '{}' does not match the base model "
                                  "{}'s '{}'",
                                  path, info.architecture, base.path, base.architecture));
  }
  info.name = gguf_string(g, "general.name");
  auto alpha = read_alpha(g, path);
  if (!alpha) return std::unexpected(alpha.error());
  info.alpha = *alpha;
  auto pairs = read_pairs(*file, path);
  if (!pairs) return std::unexpected(pairs.error());
  std::map<std::string, const TensorInfo*> base_tensors;
  for (const auto& t : base.tensors) base_tensors[t.name] = &t;
  for (const auto& [target, p] : *pairs) {
    const auto it = base_tensors.find(target);
    if (it == base_tensors.end()) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("adapter {}: '{}' is not a tensor of the base model {} (an "
                                    "adapter for another model?)",
                                    path, target, base.path));
    }
    auto rank = check_pair(path, target, p, *it->second);
    if (!rank) return std::unexpected(rank.error());
    info.rank = std::max(info.rank, *rank);
    info.targets.push_back(target);
    info.bytes += ggml_nbytes(p.a) + ggml_nbytes(p.b);
  }
  if (options.hash) {
    auto sha = sha256_file(path);
    if (!sha) return std::unexpected(sha.error().with_context("adapter"));
    info.sha256 = std::move(*sha);
  }
  return info;
}

Result<std::vector<AdapterInfo>> check_adapters(const std::vector<AdapterSpec>& specs,
                                                const ModelInfo& base,
                                                const AdapterCheckOptions& options) {
  std::vector<AdapterInfo> out;
  for (const auto& s : specs) {
    auto info = check_adapter(s, base, options);
    if (!info) return std::unexpected(info.error());
    out.push_back(std::move(*info));
  }
  return out;
}

}  // namespace clinbench
