// The decode ceiling bandwidth sets (clinbench/bandwidth.h), and how `inspect` shows it.
#include <fmt/format.h>

#include <algorithm>

#include "clinbench/bandwidth.h"
#include "clinbench/units.h"

namespace clinbench {

uint64_t decode_weight_bytes(const ModelInfo& model) {
  const bool tied = std::none_of(model.tensors.begin(), model.tensors.end(),
                                 [](const TensorInfo& t) { return t.name == "output.weight"; });
  uint64_t bytes = 0;
  for (const auto& t : model.tensors) {
    if (t.name != "token_embd.weight" || tied) bytes += t.bytes;
  }
  return bytes;
}

double roofline_tokens_per_s(double bytes_per_s, uint64_t weight_bytes, uint64_t kv_bytes_per_cell,
                             int n_seq, int depth) {
  if (bytes_per_s <= 0 || n_seq < 1) return 0;
  const double step =
      static_cast<double>(weight_bytes) +
      static_cast<double>(n_seq) * std::max(0, depth) * static_cast<double>(kv_bytes_per_cell);
  return step > 0 ? n_seq * bytes_per_s / step : 0;
}

uint64_t kv_bytes_per_cell(const Plan& plan) {
  const StrategyPlan* native = find_plan(plan, Strategy::kNative);
  const uint64_t cells = static_cast<uint64_t>(plan.n_ctx) * plan.n_seq;
  if (native == nullptr || cells == 0) return 0;
  return (native->host.kv + native->device.kv) / cells;
}

Result<Roofline> measure_roofline(const ModelInfo& model, const Plan& plan,
                                  const BandwidthOptions& options, int depth) {
  Roofline r;
  r.weight_bytes = decode_weight_bytes(model);
  r.kv_bytes_per_cell = kv_bytes_per_cell(plan);
  r.depth = depth;
  r.n_seqs = {1, 8, 32, static_cast<int>(plan.n_seq)};
  std::sort(r.n_seqs.begin(), r.n_seqs.end());
  r.n_seqs.erase(std::unique(r.n_seqs.begin(), r.n_seqs.end()), r.n_seqs.end());
  for (bool accelerator : {false, true}) {
    if (accelerator && !plan.accelerator.present) break;
    BandwidthOptions o = options;
    o.accelerator = accelerator;
    auto b = measure_bandwidth(o);
    if (!b) return std::unexpected(b.error());
    r.devices.push_back(std::move(*b));
  }
  return r;
}

namespace {

std::string rate(double bytes_per_s) { return fmt::format("{:.1f} GB/s", bytes_per_s / 1e9); }

std::string device_label(const Bandwidth& b) {
  return b.threads > 0
             ? fmt::format("{} ({} thread{})", b.device, b.threads, b.threads == 1 ? "" : "s")
             : fmt::format("{} ({})", b.device, b.description);
}

}  // namespace

std::string format_roofline(const Roofline& r) {
  std::string out;
  if (r.devices.empty()) return out;
  out += fmt::format(
      "Memory bandwidth (ggml's F32 matrix-vector product over {}, fastest of {} runs):\n",
      format_bytes(r.devices.front().bytes), r.devices.front().bytes_per_s.size());
  for (const auto& b : r.devices) {
    out += fmt::format("  {:<40} {:>12}  (median {})\n", device_label(b), rate(b.best()),
                       rate(b.median()));
  }
  out += fmt::format(
      "Decode ceiling, tokens/s summed over the sequences (a step reads {} of weights and {} of "
      "KV per cell, {} cells deep):\n",
      format_bytes(r.weight_bytes), format_bytes(r.kv_bytes_per_cell), r.depth);
  out += fmt::format("  {:>9}", "sequences");
  for (const auto& b : r.devices) out += fmt::format(" {:>12}", b.device);
  out += "\n";
  for (int n : r.n_seqs) {
    out += fmt::format("  {:>9}", n);
    for (const auto& b : r.devices) {
      out += fmt::format(" {:>12.1f}", roofline_tokens_per_s(b.best(), r.weight_bytes,
                                                             r.kv_bytes_per_cell, n, r.depth));
    }
    out += "\n";
  }
  return out;
}

nlohmann::json to_json(const Bandwidth& b) {
  return {{"device", b.device},
          {"description", b.description},
          {"threads", b.threads},
          {"bytes", b.bytes},
          {"bytes_per_s", b.bytes_per_s},
          {"best_bytes_per_s", b.best()},
          {"median_bytes_per_s", b.median()}};
}

nlohmann::json to_json(const Roofline& r) {
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& b : r.devices) {
    nlohmann::json ceilings = nlohmann::json::array();
    for (int n : r.n_seqs) {
      ceilings.push_back(
          {{"n_seq", n},
           {"tokens_per_s",
            roofline_tokens_per_s(b.best(), r.weight_bytes, r.kv_bytes_per_cell, n, r.depth)}});
    }
    nlohmann::json d = to_json(b);
    d["decode_ceiling"] = ceilings;
    devices.push_back(d);
  }
  return {{"weight_bytes", r.weight_bytes},
          {"kv_bytes_per_cell", r.kv_bytes_per_cell},
          {"depth", r.depth},
          {"devices", devices}};
}

}  // namespace clinbench
