// JSON form of the attempt log (docs/attempt-log.md). Field names are part of the format.
#include <fmt/format.h>

#include <stdexcept>

#include "clinbench/attempt.h"

namespace clinbench {

using nlohmann::json;

namespace {

template <typename T>
json opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

template <typename T>
std::optional<T> opt_from(const json& j, const char* key) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  try {
    return j.at(key).get<T>();
  } catch (const json::exception& e) {
    throw std::runtime_error(fmt::format("'{}': {}", key, e.what()));
  }
}

json type_counts(const std::vector<TypeCount>& v) {
  json a = json::array();
  for (const auto& t : v) {
    a.push_back(
        {{"type", t.type}, {"tensors", t.tensors}, {"elements", t.elements}, {"bytes", t.bytes}});
  }
  return a;
}

json choice_json(const TensorChoice& c) {
  return {{"tensor", c.name}, {"source_type", c.source_type}, {"wanted_type", c.wanted_type},
          {"type", c.type},   {"reason", c.fallback_reason},  {"bytes", c.bytes}};
}

json kv_json(const KvChoice& k) {
  if (k.layout.empty()) return nullptr;
  return {{"layout", k.layout},
          {"chosen_by", k.chosen_by},
          {"note", k.note},
          {"split_tok_s", opt(k.split_tok_s)},
          {"unified_tok_s", opt(k.unified_tok_s)},
          {"depth", k.depth},
          {"steps", k.steps},
          {"unified_steps", k.unified_steps},
          {"probe_ms", k.probe_ms},
          {"measured_at", k.measured_at.empty() ? json() : json(k.measured_at)},
          {"cached", k.cached}};
}

KvChoice kv_from_json(const json& j) {
  KvChoice k;
  if (j.is_null()) return k;
  k.layout = j.at("layout").get<std::string>();
  k.chosen_by = j.value("chosen_by", "");
  k.note = j.value("note", "");
  k.split_tok_s = opt_from<double>(j, "split_tok_s");
  k.unified_tok_s = opt_from<double>(j, "unified_tok_s");
  k.depth = j.value("depth", 0);
  k.steps = j.value("steps", 0);
  k.unified_steps = j.value("unified_steps", k.steps);
  k.probe_ms = j.value("probe_ms", 0.0);
  if (j.contains("measured_at") && j["measured_at"].is_string()) {
    k.measured_at = j["measured_at"].get<std::string>();
  }
  k.cached = j.value("cached", false);
  return k;
}

const std::pair<Outcome, const char*> kOutcomes[] = {{Outcome::kOk, "ok"},
                                                     {Outcome::kSkipped, "skipped"},
                                                     {Outcome::kFailed, "failed"},
                                                     {Outcome::kCrashed, "crashed"}};

}  // namespace

const char* to_string(Outcome o) {
  for (const auto& [k, v] : kOutcomes) {
    if (k == o) return v;
  }
  return "unknown";
}

const char* to_string(Isolation i) { return i == Isolation::kProcess ? "process" : "none"; }

std::string strategy_name(const Attempt& a) {
  return a.remote.is_null() ? to_string(a.strategy) : kRemoteStrategyName;
}

json to_json(const Attempt& a) {
  json rt = json::array();
  for (const auto& r : a.warmup.round_trips) {
    json e = {{"text", r.text}, {"ok", r.ok}, {"tokens", r.n_tokens}};
    if (!r.ok) e["got"] = r.got;
    rt.push_back(e);
  }
  json fallbacks = json::array();
  for (const auto& c : a.placement.fallbacks) fallbacks.push_back(choice_json(c));
  return {
      {"strategy", strategy_name(a)},
      {"recipe", a.recipe.empty() ? json(nullptr) : json(a.recipe)},
      {"outcome", to_string(a.outcome)},
      {"reason", a.reason},
      {"isolation", to_string(a.isolation)},
      {"projected", {{"host", to_json(a.projected_host)}, {"device", to_json(a.projected_device)}}},
      {"available", {{"host", a.available_host}, {"device", a.available_device}}},
      {"peak_rss_bytes", opt(a.peak_rss_bytes)},
      {"peak_device_bytes", opt(a.peak_device_bytes)},
      {"allocated",
       a.allocated_host && a.allocated_device
           ? json{{"host", to_json(*a.allocated_host)}, {"device", to_json(*a.allocated_device)}}
           : json(nullptr)},
      {"device_withheld_bytes", opt(a.device_withheld_bytes)},
      {"host_limit", a.host_limit.empty() ? json(nullptr) : json(a.host_limit)},
      {"init_ms", opt(a.init_ms)},
      {"wall_ms", a.wall_ms},
      {"placement",
       {{"n_gpu_layers", a.placement.n_gpu_layers},
        {"n_layers", a.placement.n_layers},
        {"load_mode", a.placement.load_mode},
        {"tensor_types", type_counts(a.placement.tensor_types)},
        {"fallbacks", fallbacks}}},
      {"warmup",
       {{"ran", a.warmup.ran},
        {"passed", a.warmup.passed},
        {"warnings", a.warmup.warnings},
        {"failures", a.warmup.failures},
        {"round_trips", rt},
        {"chat_template_present", a.warmup.chat_template_present},
        {"chat_template_ok", a.warmup.chat_template_ok},
        {"chat_rendered", a.warmup.chat_rendered},
        {"bos", a.warmup.bos},
        {"eos", a.warmup.eos},
        {"add_bos", a.warmup.add_bos},
        {"generation", a.warmup.generation},
        {"generated_tokens", a.warmup.generated_tokens},
        {"logits_finite", a.warmup.logits_finite},
        {"adapter_logit_delta", a.warmup.adapter_logit_delta},
        {"ms", a.warmup.ms}}},
      {"kv", kv_json(a.kv)},
      {"exit_code", opt(a.exit_code)},
      {"signal", opt(a.signal)},
      {"log_tail", a.log_tail},
      {"remote", a.remote},
      {"energy", a.energy},
  };
}

json to_json(const AdapterInfo& a) {
  return {{"path", a.path},       {"sha256", a.sha256.empty() ? json(nullptr) : json(a.sha256)},
          {"scale", a.scale},     {"name", a.name},
          {"rank", a.rank},       {"alpha", a.alpha},
          {"targets", a.targets}, {"bytes", a.bytes}};
}

AdapterInfo adapter_info_from_json(const json& j) {
  AdapterInfo a;
  a.path = j.at("path").get<std::string>();
  a.sha256 = j.at("sha256").is_null() ? "" : j.at("sha256").get<std::string>();
  a.scale = j.at("scale").get<float>();
  a.name = j.value("name", "");
  a.rank = j.at("rank").get<uint32_t>();
  a.alpha = j.at("alpha").get<float>();
  a.targets = j.at("targets").get<std::vector<std::string>>();
  a.bytes = j.at("bytes").get<uint64_t>();
  return a;
}

json to_json(const AttemptLog& log) {
  json attempts = json::array();
  for (const auto& a : log.attempts) attempts.push_back(to_json(a));
  json adapters = json::array();
  for (const auto& a : log.adapters) adapters.push_back(to_json(a));
  return {{"format", "clinbench.attempt_log/1"},
          {"model_path", log.model_path},
          {"model_sha256", log.model_sha256.empty() ? json(nullptr) : json(log.model_sha256)},
          {"architecture", log.architecture},
          {"adapters", adapters},
          {"requested", log.requested},
          {"n_ctx", log.n_ctx},
          {"n_seq", log.n_seq},
          {"n_seq_bound", log.n_seq_bound},
          {"kv", log.kv},
          {"n_ctx_items", log.n_ctx_items},
          {"accelerator", to_json(log.accelerator)},
          {"plan_ms", log.plan_ms},
          {"started_at", log.started_at},
          {"wall_ms", log.wall_ms},
          {"succeeded", log.succeeded ? json(*log.succeeded) : json(nullptr)},
          {"strategy",
           log.succeeded ? json(strategy_name(log.attempts[*log.succeeded])) : json(nullptr)},
          {"attempts", attempts}};
}

Result<Attempt> attempt_from_json(const json& ja) {
  try {
    Attempt a;
    const std::string strategy = ja.at("strategy").get<std::string>();
    if (strategy == kRemoteStrategyName) {
      a.remote = ja.value("remote", json());
      if (!a.remote.is_object()) {
        return make_error(ErrorCode::kCorrupt, "strategy remote without its 'remote' object");
      }
    } else if (auto s = strategy_from_string(strategy)) {
      a.strategy = *s;
    } else {
      return make_error(ErrorCode::kCorrupt, fmt::format("unknown strategy '{}'", strategy));
    }
    a.recipe = ja.at("recipe").is_null() ? "" : ja.at("recipe").get<std::string>();
    const std::string outcome = ja.at("outcome").get<std::string>();
    bool found = false;
    for (const auto& [k, v] : kOutcomes) {
      if (outcome == v) {
        a.outcome = k;
        found = true;
      }
    }
    if (!found) {
      return make_error(ErrorCode::kCorrupt, fmt::format("unknown outcome '{}'", outcome));
    }
    a.reason = ja.value("reason", "");
    a.isolation =
        ja.value("isolation", "process") == "none" ? Isolation::kNone : Isolation::kProcess;
    a.projected_host = bytes_from_json(ja.at("projected").at("host"));
    a.projected_device = bytes_from_json(ja.at("projected").at("device"));
    a.available_host = ja.at("available").value("host", uint64_t{0});
    a.available_device = ja.at("available").value("device", uint64_t{0});
    a.peak_rss_bytes = opt_from<uint64_t>(ja, "peak_rss_bytes");
    a.peak_device_bytes = opt_from<uint64_t>(ja, "peak_device_bytes");
    if (auto it = ja.find("allocated"); it != ja.end() && !it->is_null()) {
      a.allocated_host = bytes_from_json(it->at("host"));
      a.allocated_device = bytes_from_json(it->at("device"));
    }
    a.device_withheld_bytes = opt_from<uint64_t>(ja, "device_withheld_bytes");
    a.host_limit = opt_from<std::string>(ja, "host_limit").value_or("");
    a.init_ms = opt_from<double>(ja, "init_ms");
    a.wall_ms = ja.value("wall_ms", 0.0);
    a.energy = ja.value("energy", json());
    const auto& p = ja.at("placement");
    a.placement.n_gpu_layers = p.value("n_gpu_layers", 0);
    a.placement.n_layers = p.value("n_layers", 0);
    a.placement.load_mode = p.value("load_mode", "");
    for (const auto& t : p.value("tensor_types", json::array())) {
      a.placement.tensor_types.push_back({t.value("type", ""), t.value("tensors", uint64_t{0}),
                                          t.value("elements", uint64_t{0}),
                                          t.value("bytes", uint64_t{0})});
    }
    for (const auto& f : p.value("fallbacks", json::array())) {
      TensorChoice c;
      c.name = f.value("tensor", "");
      c.source_type = f.value("source_type", "");
      c.wanted_type = f.value("wanted_type", "");
      c.type = f.value("type", "");
      c.fallback_reason = f.value("reason", "");
      c.bytes = f.value("bytes", uint64_t{0});
      a.placement.fallbacks.push_back(c);
    }
    const auto& w = ja.at("warmup");
    a.warmup.ran = w.value("ran", false);
    a.warmup.passed = w.value("passed", false);
    a.warmup.warnings = w.value("warnings", std::vector<std::string>{});
    a.warmup.failures = w.value("failures", std::vector<std::string>{});
    for (const auto& r : w.value("round_trips", json::array())) {
      a.warmup.round_trips.push_back(
          {r.value("text", ""), r.value("ok", false), r.value("got", ""), r.value("tokens", 0)});
    }
    a.warmup.chat_template_present = w.value("chat_template_present", false);
    a.warmup.chat_template_ok = w.value("chat_template_ok", false);
    a.warmup.chat_rendered = w.value("chat_rendered", "");
    a.warmup.bos = w.value("bos", -1);
    a.warmup.eos = w.value("eos", -1);
    a.warmup.add_bos = w.value("add_bos", false);
    a.warmup.generation = w.value("generation", "");
    a.warmup.generated_tokens = w.value("generated_tokens", std::vector<int>{});
    a.warmup.logits_finite = w.value("logits_finite", false);
    a.warmup.adapter_logit_delta = w.value("adapter_logit_delta", std::vector<double>{});
    a.warmup.ms = w.value("ms", 0.0);
    if (auto it = ja.find("kv"); it != ja.end()) a.kv = kv_from_json(*it);
    a.exit_code = opt_from<int>(ja, "exit_code");
    a.signal = opt_from<int>(ja, "signal");
    a.log_tail = ja.value("log_tail", "");
    return a;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kCorrupt, fmt::format("attempt: {}", e.what()));
  }
}

Result<AttemptLog> attempt_log_from_json(const json& j) {
  try {
    if (j.value("format", "") != "clinbench.attempt_log/1") {
      return make_error(ErrorCode::kUnsupported,
                        fmt::format("attempt log: format is '{}', expected "
                                    "'clinbench.attempt_log/1'",
                                    j.value("format", "")));
    }
    AttemptLog log;
    log.model_path = j.at("model_path").get<std::string>();
    log.model_sha256 =
        j.at("model_sha256").is_null() ? "" : j.at("model_sha256").get<std::string>();
    log.architecture = j.value("architecture", "");
    for (const auto& ja : j.value("adapters", json::array())) {
      log.adapters.push_back(adapter_info_from_json(ja));
      log.adapters.back().architecture = log.architecture;
    }
    log.requested = j.value("requested", "");
    log.n_ctx = j.value("n_ctx", 0u);
    log.n_seq = j.value("n_seq", 1u);
    log.n_seq_bound = j.value("n_seq_bound", "");
    log.kv = j.value("kv", "auto");
    log.n_ctx_items = j.value("n_ctx_items", 0u);
    log.accelerator = accelerator_from_json(j.at("accelerator"));
    log.plan_ms = j.value("plan_ms", 0.0);
    log.started_at = j.value("started_at", "");
    log.wall_ms = j.value("wall_ms", 0.0);
    log.succeeded = opt_from<size_t>(j, "succeeded");
    for (const auto& ja : j.at("attempts")) {
      auto a = attempt_from_json(ja);
      if (!a) return std::unexpected(a.error().with_context("attempt log"));
      log.attempts.push_back(std::move(*a));
    }
    if (log.succeeded && *log.succeeded >= log.attempts.size()) {
      return make_error(ErrorCode::kCorrupt, "attempt log: 'succeeded' points past the attempts");
    }
    return log;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kCorrupt, fmt::format("attempt log: {}", e.what()));
  }
}

}  // namespace clinbench
