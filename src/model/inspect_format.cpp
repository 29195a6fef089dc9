#include <fmt/format.h>

#include <sstream>

#include "clinbench/plan.h"
#include "clinbench/units.h"

namespace clinbench {

using nlohmann::json;

json to_json(const Bytes& b) {
  return {{"weights", b.weights},
          {"kv", b.kv},
          {"compute", b.compute},
          {"overhead", b.overhead},
          {"total", b.total()}};
}

json to_json(const Accelerator& acc) {
  return {{"present", acc.present},
          {"name", acc.name},
          {"description", acc.description},
          {"total", acc.total},
          {"free", acc.free}};
}

Bytes bytes_from_json(const json& j) {
  Bytes b;
  b.weights = j.value("weights", uint64_t{0});
  b.kv = j.value("kv", uint64_t{0});
  b.compute = j.value("compute", uint64_t{0});
  b.overhead = j.value("overhead", uint64_t{0});
  return b;
}

Accelerator accelerator_from_json(const json& j) {
  Accelerator acc;
  acc.present = j.value("present", false);
  acc.name = j.value("name", "");
  acc.description = j.value("description", "");
  acc.total = j.value("total", uint64_t{0});
  acc.free = j.value("free", uint64_t{0});
  return acc;
}

Result<Plan> plan_from_json(const json& j) {
  try {
    Plan plan;
    plan.n_ctx = j.at("n_ctx").get<uint32_t>();
    plan.n_ctx_items = j.value("n_ctx_items", 0u);
    plan.n_seq = j.value("n_seq", 1u);
    plan.plan_ms = j.value("plan_ms", 0.0);
    plan.accelerator = accelerator_from_json(j.at("accelerator"));
    for (const auto& s : j.at("strategies")) {
      StrategyPlan p;
      const auto name = s.at("strategy").get<std::string>();
      auto strategy = strategy_from_string(name);
      if (!strategy) {
        return make_error(ErrorCode::kCorrupt, fmt::format("plan: unknown strategy '{}'", name));
      }
      p.strategy = *strategy;
      p.recipe = s.at("recipe").is_null() ? "" : s.at("recipe").get<std::string>();
      p.applicable = s.at("applicable").get<bool>();
      p.reason = s.value("reason", "");
      p.host = bytes_from_json(s.at("host"));
      p.device = bytes_from_json(s.at("device"));
      p.n_gpu_layers = s.at("n_gpu_layers").get<int>();
      p.n_layers = s.at("n_layers").get<int>();
      p.weight_bytes = s.at("weight_bytes").get<uint64_t>();
      plan.strategies.push_back(std::move(p));
    }
    return plan;
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kCorrupt, fmt::format("plan: {}", e.what()));
  }
}

json to_json(const ModelInfo& info) {
  json hist = json::array();
  for (const auto& t : info.type_histogram) {
    hist.push_back(
        {{"type", t.type}, {"tensors", t.tensors}, {"elements", t.elements}, {"bytes", t.bytes}});
  }
  return {{"path", info.path},
          {"file_size", info.file_size},
          {"gguf_version", info.gguf_version},
          {"architecture", info.architecture},
          {"name", info.name},
          {"n_params", info.n_params},
          {"weight_bytes", info.weight_bytes},
          {"n_layer", info.n_layer},
          {"n_embd", info.n_embd},
          {"n_ff", info.n_ff},
          {"n_head", info.n_head},
          {"n_head_kv", info.n_head_kv},
          {"n_ctx_train", info.n_ctx_train},
          {"vocab_type", info.vocab_type},
          {"n_vocab", info.n_vocab},
          {"chat_template", info.has_chat_template},
          {"dominant_type", info.dominant_type},
          {"n_tensors", info.tensors.size()},
          {"tensor_types", hist},
          {"sha256", info.sha256 ? json(*info.sha256) : json(nullptr)}};
}

json to_json(const Plan& plan) {
  json strategies = json::array();
  for (const auto& p : plan.strategies) {
    strategies.push_back({{"strategy", to_string(p.strategy)},
                          {"recipe", p.recipe.empty() ? json(nullptr) : json(p.recipe)},
                          {"applicable", p.applicable},
                          {"reason", p.reason},
                          {"host", to_json(p.host)},
                          {"device", to_json(p.device)},
                          {"n_gpu_layers", p.n_gpu_layers},
                          {"n_layers", p.n_layers},
                          {"weight_bytes", p.weight_bytes}});
  }
  return {{"n_ctx", plan.n_ctx},
          {"n_ctx_items", plan.n_ctx_items},
          {"n_seq", plan.n_seq},
          {"plan_ms", plan.plan_ms},
          {"accelerator", to_json(plan.accelerator)},
          {"strategies", strategies}};
}

std::string format_inspect(const ModelInfo& info, const Plan& plan) {
  std::ostringstream o;
  o << fmt::format("file          {}\n", info.path);
  o << fmt::format("size          {} ({} bytes)\n", format_bytes(info.file_size), info.file_size);
  o << fmt::format("architecture  {}{}\n", info.architecture,
                   info.name.empty() ? "" : fmt::format(" ({})", info.name));
  o << fmt::format("parameters    {} ({:.3f} B)\n", info.n_params, info.n_params / 1e9);
  o << fmt::format("shape         {} blocks, width {}, ff {}, heads {} / kv {}\n", info.n_layer,
                   info.n_embd, info.n_ff, info.n_head, info.n_head_kv);
  o << fmt::format("context       {} (training)\n", info.n_ctx_train);
  o << fmt::format("vocabulary    {} tokens, {}\n", info.n_vocab,
                   info.vocab_type.empty() ? "unknown type" : info.vocab_type);
  o << fmt::format("chat template {}\n", info.has_chat_template ? "present" : "absent");
  o << fmt::format("sha256        {}\n", info.sha256.value_or("(skipped)"));
  o << "tensor types:\n";
  for (const auto& t : info.type_histogram) {
    o << fmt::format("  {:<6} {:>5} tensors {:>14} params {:>12}\n", t.type, t.tensors, t.elements,
                     format_bytes(t.bytes));
  }
  o << fmt::format("memory plan at context {} (accelerator: {}), {:.1f} ms:\n",
                   plan.n_seq > 1 ? fmt::format("{} x {} sequences", plan.n_ctx, plan.n_seq)
                                  : std::to_string(plan.n_ctx),
                   plan.accelerator.present
                       ? fmt::format("{} {}", plan.accelerator.name, plan.accelerator.description)
                       : std::string("none"),
                   plan.plan_ms);
  o << fmt::format("  {:<12} {:>11} {:>11} {:>11} {:>11} {:>11} {:>6}  {}\n", "strategy", "weights",
                   "kv", "compute", "host", "device", "layers", "note");
  for (const auto& p : plan.strategies) {
    o << fmt::format(
        "  {:<12} {:>11} {:>11} {:>11} {:>11} {:>11} {:>6}  {}\n", to_string(p.strategy),
        format_bytes(p.weight_bytes), format_bytes(p.host.kv + p.device.kv),
        format_bytes(p.host.compute + p.device.compute), format_bytes(p.host.total()),
        format_bytes(p.device.total()), fmt::format("{}/{}", p.n_gpu_layers, p.n_layers),
        p.applicable ? (p.recipe.empty() ? "" : "recipe " + p.recipe) : p.reason);
  }
  return o.str();
}

}  // namespace clinbench
