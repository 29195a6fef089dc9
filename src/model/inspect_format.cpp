#include <fmt/format.h>

#include <sstream>

#include "clinbench/plan.h"
#include "clinbench/units.h"

namespace clinbench {

using nlohmann::json;

json to_json(const Bytes& b) {
  return {{"weights", b.weights}, {"kv", b.kv},       {"compute", b.compute},
          {"overhead", b.overhead}, {"total", b.total()}};
}

json to_json(const ModelInfo& info) {
  json hist = json::array();
  for (const auto& t : info.type_histogram) {
    hist.push_back({{"type", t.type}, {"tensors", t.tensors}, {"elements", t.elements},
                    {"bytes", t.bytes}});
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
          {"plan_ms", plan.plan_ms},
          {"accelerator",
           {{"present", plan.accelerator.present},
            {"name", plan.accelerator.name},
            {"description", plan.accelerator.description},
            {"total", plan.accelerator.total},
            {"free", plan.accelerator.free}}},
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
    o << fmt::format("  {:<6} {:>5} tensors {:>14} params {:>12}\n", t.type, t.tensors,
                     t.elements, format_bytes(t.bytes));
  }
  o << fmt::format("memory plan at context {} (accelerator: {}), {:.1f} ms:\n", plan.n_ctx,
                   plan.accelerator.present ? plan.accelerator.description : "none",
                   plan.plan_ms);
  o << fmt::format("  {:<12} {:>11} {:>11} {:>11} {:>11} {:>11} {:>6}  {}\n", "strategy",
                   "weights", "kv", "compute", "host", "device", "layers", "note");
  for (const auto& p : plan.strategies) {
    o << fmt::format("  {:<12} {:>11} {:>11} {:>11} {:>11} {:>11} {:>6}  {}\n",
                     to_string(p.strategy), format_bytes(p.weight_bytes),
                     format_bytes(p.host.kv + p.device.kv),
                     format_bytes(p.host.compute + p.device.compute),
                     format_bytes(p.host.total()), format_bytes(p.device.total()),
                     fmt::format("{}/{}", p.n_gpu_layers, p.n_layers),
                     p.applicable ? (p.recipe.empty() ? "" : "recipe " + p.recipe) : p.reason);
  }
  return o.str();
}

}  // namespace clinbench
