// `clinbench run`'s flags turned into a RunConfig: the short form and the overrides.
#include <fmt/format.h>

#include <charconv>
#include <filesystem>

#include "clinbench/adapter.h"
#include "clinbench/attempt.h"
#include "clinbench/config.h"
#include "clinbench/select.h"

namespace clinbench {

namespace {

// The name a path stands for: its stem, or the folder's name for "data/mmlu/".
std::string name_of(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  std::string stem = std::filesystem::path(path).stem().string();
  return stem.empty() ? "dataset" : stem;
}

Result<RunConfig> short_form(const RunFlags& f) {
  if (f.model.empty() == f.base_url.empty() || f.dataset.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "run needs --config FILE, or --dataset and one of --model and --base-url");
  }
  RunConfig cfg;
  ModelConfig m;
  if (!f.base_url.empty()) {
    m.backend = "openai";
    m.base_url = f.base_url;
    m.api_model = f.api_model;
    m.strategy = kRemoteStrategyName;
    m.name = f.api_model.empty() ? "remote" : name_of(f.api_model);
  } else {
    m.path = f.model;
    m.name = name_of(f.model);
    for (const std::string& text : f.lora) {
      auto spec = parse_adapter_spec(text, "--lora");
      if (!spec) return std::unexpected(spec.error());
      m.adapters.push_back(std::move(*spec));
    }
  }
  cfg.models.push_back(m);
  DatasetConfig d;
  d.path = f.dataset;
  d.name = name_of(f.dataset);
  d.limit = f.limit;
  if (f.seed) d.seed = *f.seed;
  cfg.datasets.push_back(d);
  cfg.out = "runs/" + m.name + "-" + d.name;
  return cfg;
}

Result<void> override_models(const RunFlags& f, RunConfig& cfg) {
  for (auto& m : cfg.models) {
    if (m.remote()) {
      if (f.in_flight) m.in_flight = *f.in_flight;
      if (!f.ca_cert.empty()) {
        if (m.base_url.rfind("https://", 0) != 0) {
          return make_error(
              ErrorCode::kInvalidArgument,
              fmt::format("--ca-cert: applies to an https:// base URL only, not {}", m.base_url));
        }
        m.ca_cert = f.ca_cert;
      }
      continue;  // --strategy, --ctx and --threads are for models loaded here
    }
    if (!f.strategy.empty()) m.strategy = f.strategy;
    if (f.ctx) m.ctx = *f.ctx;
    if (f.threads) m.threads = *f.threads;
  }
  return {};
}

// The whole text as a decimal int; nullopt for anything else.
std::optional<int> whole_int(std::string_view text) {
  int n = 0;
  const char* end = text.data() + text.size();
  if (auto [p, ec] = std::from_chars(text.data(), end, n); ec != std::errc() || p != end) {
    return std::nullopt;
  }
  return n;
}

// "unlimited" or a number of tokens, 0 or more.
Result<int> parse_reasoning_budget(std::string_view text) {
  if (text == "unlimited") return kUnlimitedReasoning;
  const auto n = whole_int(text);
  if (!n || *n < 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--reasoning-budget: '{}' is not unlimited or a number of tokens "
                                  "(0 or more)",
                                  text));
  }
  return *n;
}

Result<void> override_decoding(const RunFlags& f, RunConfig& cfg) {
  if (!f.scoring.empty()) {
    auto s = scoring_from_string(f.scoring);
    if (!s) {
      return make_error(
          ErrorCode::kInvalidArgument,
          fmt::format("--scoring: unknown value '{}' (expected generate or loglik)", f.scoring));
    }
    cfg.decoding.scoring = *s;
  }
  if (f.max_tokens) cfg.decoding.max_tokens = *f.max_tokens;
  if (f.parallel) {
    auto n = parse_parallel("--parallel", *f.parallel);
    if (!n) return std::unexpected(n.error());
    cfg.decoding.parallel = *n;
  }
  if (!f.kv.empty()) {
    auto k = kv_layout_from_string(f.kv);
    if (!k) {
      return make_error(
          ErrorCode::kInvalidArgument,
          fmt::format("--kv: unknown value '{}' (expected auto, split or unified)", f.kv));
    }
    cfg.decoding.kv = *k;
  }
  if (f.seed) cfg.decoding.seed = *f.seed;
  if (!f.thinking.empty()) {
    auto t = thinking_from_string(f.thinking);
    if (!t) {
      return make_error(
          ErrorCode::kInvalidArgument,
          fmt::format("--thinking: unknown value '{}' (expected auto, on or off)", f.thinking));
    }
    cfg.decoding.thinking = *t;
    for (auto& m : cfg.models) m.thinking.reset();  // the flag is every model's
  }
  if (f.reasoning_budget) {
    auto b = parse_reasoning_budget(*f.reasoning_budget);
    if (!b) return std::unexpected(b.error());
    cfg.decoding.reasoning_budget = *b;
  }
  if (f.constrained_answer) cfg.decoding.constrained_answer = true;
  if (f.strict) cfg.decoding.strict = true;
  return {};
}

}  // namespace

Result<int> parse_parallel(std::string_view what, std::string_view text) {
  if (text == "auto") return kParallelAuto;
  const auto n = whole_int(text);
  if (!n || *n < 1 || *n > static_cast<int>(kMaxSequences)) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("{}: '{}' is not auto or an integer between 1 and {}", what, text,
                                  kMaxSequences));
  }
  return *n;
}

Result<RunConfig> run_config_from_flags(const RunFlags& f) {
  Result<RunConfig> cfg;
  if (!f.lora.empty() && f.model.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      f.config.empty() ? "--lora: applies to a --model loaded here, not a served "
                                         "model (--base-url)"
                                       : "--lora: applies to the short form (--model); with "
                                         "--config give each model its adapters = [...]");
  }
  if (!f.config.empty()) {
    if (!f.model.empty() || !f.dataset.empty() || !f.base_url.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--config and --model/--base-url/--dataset are exclusive");
    }
    cfg = read_run_config(f.config);
  } else {
    cfg = short_form(f);
  }
  if (!cfg) return cfg;
  if (!f.out.empty()) cfg->out = f.out;
  if (cfg->out.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "no run directory: give --out or out = in the config");
  }
  if (auto r = override_decoding(f, *cfg); !r) return std::unexpected(r.error());
  if (auto r = override_models(f, *cfg); !r) return std::unexpected(r.error());
  if (!f.shard.empty()) {
    auto sh = parse_shard(f.shard);
    if (!sh) return std::unexpected(sh.error().with_context("--shard"));
    cfg->shard = *sh;
  }
  return cfg;
}

}  // namespace clinbench
