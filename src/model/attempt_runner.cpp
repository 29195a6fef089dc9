#include "model/attempt_runner.h"

#include <fmt/format.h>
#include <ggml-backend.h>
#include <ggml-cpp.h>
#include <llama-cpp.h>
#include <llama-ext.h>
#include <llama.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>

#include "clinbench/model_info.h"
#include "clinbench/rpc.h"
#include "clinbench/units.h"
#include "model/adapter_load.h"
#include "model/backend_init.h"
#include "model/kv_layout_cache.h"
#include "model/kv_probe.h"
#include "model/llama_log.h"
#include "model/quantize_load.h"
#include "model/simulate.h"
#include "model/strategy_table.h"
#include "model/warmup.h"
#include "util/clock.h"
#include "util/test_crash.h"

namespace clinbench {

namespace {

uint64_t device_free(ggml_backend_dev_t dev) {
  size_t free = 0, total = 0;
  ggml_backend_dev_memory(dev, &free, &total);
  return free;
}

// Threads for loading and inference: the spec's count, or one per hardware thread.
int thread_count(const AttemptSpec& spec) {
  return spec.n_threads > 0 ? spec.n_threads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// One attempt, phase by phase (devices, plan, load, context, placement, warm-up, task). A phase
// that fails records why in the attempt and returns false; once the device is metered, a failed
// attempt records the device memory it had reached too. What the attempt holds is released
// when it ends, in reverse order: context, model, then the withheld device memory.
class AttemptRun {
 public:
  explicit AttemptRun(const AttemptSpec& spec) : spec_(spec) {
    a_.strategy = spec.strategy;
    a_.recipe = records_recipe(spec.strategy) ? spec.recipe : "";
    a_.outcome = Outcome::kFailed;
  }

  const Attempt& attempt() const { return a_; }

  // Devices: registers the RPC devices, finds the accelerator, holds back the device memory
  // above the budget, and notes the free device memory the peak is measured from.
  bool reserve_devices() {
    n_threads_ = thread_count(spec_);
    if (auto rpc = ensure_rpc_devices(); !rpc) {
      a_.reason = rpc.error().message;
      return false;
    }
    acc_ = accelerator_device();
    // A device budget below the free memory is made real: the rest is allocated and held for the
    // whole attempt, so a load that needs more than the budget fails in the driver.
    if (acc_ && spec_.device_budget) {
      const uint64_t free_now = device_free(acc_);
      if (free_now > *spec_.device_budget) {
        const uint64_t hold = free_now - *spec_.device_budget;
        withheld_.reset(ggml_backend_buft_alloc_buffer(ggml_backend_dev_buffer_type(acc_), hold));
        if (!withheld_) {
          a_.reason = fmt::format(
              "could not hold back {} of device memory to enforce the device budget of {}",
              format_bytes(hold), format_bytes(*spec_.device_budget));
          return false;
        }
        a_.device_withheld_bytes = hold;
      }
    }
    free_before_ = acc_ ? device_free(acc_) : 0;
    min_free_ = free_before_;
    return true;
  }

  // Plan: reads the model's header and places its layers on the device for the strategy.
  bool plan() {
    auto info = read_model_info(spec_.model_path, {.hash = false});
    if (!info) return fail(info.error().message);
    info_ = std::move(*info);
    a_.placement.n_layers = static_cast<int>(info_.n_layer);
    mp_ = llama_model_default_params();
    const int on_device = layers_on_device(spec_.strategy, spec_.n_gpu_layers,
                                           a_.placement.n_layers, acc_ != nullptr);
    place_layers(mp_, llama_gpu_layers(on_device));
    a_.placement.n_gpu_layers = on_device;
    return true;
  }

  // Load: the weights quantized in memory by the recipe (quantize:*), or mapped as stored. Starts
  // the init clock.
  bool load_weights() {
    const StrategyDef& def = strategy_def(spec_.strategy);
    t0_ = std::chrono::steady_clock::now();
    {
      LogCapture capture;
      if (def.load == WeightLoad::kQuantized) {
        if (!is_float_type(info_.dominant_type)) {
          return fail(fmt::format("weights are stored as {}; quantize:* needs f32/f16/bf16",
                                  info_.dominant_type));
        }
        auto recipe = resolve_recipe(spec_.recipe);
        if (!recipe) return fail(recipe.error().message);
        auto c = apply_recipe(*recipe, spec_.strategy, info_);
        if (!c) return fail(c.error().message);
        choices_ = std::move(*c);
        a_.placement.load_mode = to_string(def.load);
        auto m = load_quantized_model(info_, choices_, mp_, n_threads_);
        if (!m) return fail(m.error().message);
        model_.reset(*m);
      } else {
        a_.placement.load_mode = to_string(def.load);
        mp_.load_mode = LLAMA_LOAD_MODE_MMAP;
        model_.reset(llama_model_load_from_file(spec_.model_path.c_str(), mp_));
        if (!model_) {
          return fail(fmt::format("llama.cpp failed to load the model: {}", capture.errors()));
        }
      }
    }
    if (!spec_.adapters.empty()) {
      LogCapture capture;
      auto adapters = LoadedAdapters::load(model_.get(), spec_.adapters);
      if (!adapters) return fail(adapters.error().message);
      adapters_ = std::move(*adapters);
    }
    sample_device();
    return true;
  }

  // Context: creates it (split KV, unless unified is asked for), stops the init clock, and
  // records the memory it allocated.
  bool create_context() {
    const bool unified = spec_.kv == KvLayout::kUnified && spec_.n_seq > 1;
    if (auto why = make_context(unified)) return fail(std::move(*why));
    a_.init_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count();
    return true;
  }

  // KV layout: as asked for, or (auto, more than one sequence) both measured on the loaded
  // model and the faster kept; the context is recreated with it when it is not the one held.
  bool choose_kv() {
    KvChoice& k = a_.kv;
    const bool measure = spec_.kv == KvLayout::kAuto && spec_.n_seq > 1 && spec_.kv_note.empty();
    k.layout = spec_.kv == KvLayout::kUnified && spec_.n_seq > 1 ? "unified" : "split";
    k.chosen_by = spec_.n_seq <= 1              ? "one sequence"
                  : !spec_.kv_note.empty()      ? "budget"
                  : spec_.kv != KvLayout::kAuto ? "requested"
                                                : "measured";
    k.note = spec_.kv_note;
    if (!measure) return true;
    const Clock::time_point t0 = Clock::now();
    // Half a sequence's cells: about where the items' replies are on average (the cells are
    // sized from prompt plus reply budget), up to 1024.
    k.steps = kProbeSteps;
    k.depth = static_cast<int>(std::clamp<uint32_t>(spec_.n_ctx / 2, 1, 1024));
    k.depth = std::max(1, std::min(k.depth, static_cast<int>(spec_.n_ctx) - k.steps - 1));
    // An earlier attempt of the same shape on this machine measured it: its choice is kept.
    const nlohmann::json key = kv_cache_key(k);
    std::optional<KvLayoutCache> cache;
    if (auto path = kv_layout_cache_path()) {
      cache = KvLayoutCache::open(*path);
      if (!cache->problem().empty()) {
        k.note = cache->problem() + "; measured again";
      } else if (auto m = cache->find(key)) {
        if (!use_measurement(*m)) return false;
        k.probe_ms = ms_since(t0);
        return true;
      }
    }
    const int n_seq = static_cast<int>(spec_.n_seq);
    auto split = measure_decode_rate(ctx_.get(), n_seq, k.depth, k.steps);
    if (!split) {
      add_note(k, "split: " + split.error().message);  // the split context stays, unmeasured
      return true;
    }
    k.split_tok_s = split->tok_s;
    if (auto why = make_context(true)) {
      add_note(k, "unified: " + *why);
    } else if (auto unified = measure_decode_rate(ctx_.get(), n_seq, k.depth, k.steps,
                                                  *k.split_tok_s * kUnifiedMargin);
               !unified) {
      add_note(k, "unified: " + unified.error().message);
    } else {
      k.unified_tok_s = unified->tok_s;
      k.unified_steps = unified->steps;
    }
    // A margin against the measurement's noise: per-sequence KV unless unified is clearly faster.
    if (k.unified_tok_s && *k.unified_tok_s > *k.split_tok_s * kUnifiedMargin) {
      k.layout = "unified";
    } else if (auto why = make_context(false)) {
      return fail(std::move(*why));
    }
    k.measured_at = utc_now_iso();
    if (cache && k.unified_tok_s) {
      const KvMeasurement m{k.layout, *k.split_tok_s,  *k.unified_tok_s, k.depth,
                            k.steps,  k.unified_steps, k.measured_at};
      if (auto r = cache->put(key, m); !r) {
        add_note(k, "not kept for later runs: " + r.error().message);
      }
    }
    k.probe_ms = ms_since(t0);
    return true;
  }

  static void add_note(KvChoice& k, const std::string& note) {
    k.note = k.note.empty() ? note : k.note + "; " + note;
  }

  // What a decode rate of the probe depends on: the same key, the same measurement. The model
  // file by path, size and modification time (not its hash: a hash of gigabytes per attempt
  // would cost more than the probe).
  nlohmann::json kv_cache_key(const KvChoice& k) const {
    namespace fs = std::filesystem;
    const auto file_id = [](const std::string& path) {
      std::error_code ec;
      const fs::path abs = fs::absolute(path, ec);
      const auto bytes = fs::file_size(path, ec);
      const auto mtime = fs::last_write_time(path, ec).time_since_epoch().count();
      return nlohmann::json{{"path", abs.string()},
                            {"bytes", ec ? 0 : bytes},
                            {"mtime", ec ? 0 : static_cast<int64_t>(mtime)}};
    };
    nlohmann::json adapters = nlohmann::json::array();
    for (const AdapterSpec& a : spec_.adapters) {
      adapters.push_back({{"file", file_id(a.path)}, {"scale", a.scale}});
    }
    std::array<char, 256> host{};
    if (gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
    return {{"model", file_id(spec_.model_path)},
            {"strategy", to_string(spec_.strategy)},
            {"recipe", a_.recipe},
            {"n_gpu_layers", a_.placement.n_gpu_layers},
            {"n_ctx", spec_.n_ctx},
            {"n_seq", spec_.n_seq},
            {"n_batch", spec_.n_batch},
            {"threads", n_threads_},
            {"device", acc_ ? fmt::format("{} ({})", ggml_backend_dev_name(acc_),
                                          ggml_backend_dev_description(acc_))
                            : std::string("cpu")},
            {"adapters", adapters},
            {"llama_cpp", CLINBENCH_LLAMA_COMMIT},
            {"host", host.data()},
            {"depth", k.depth},
            {"steps", k.steps}};
  }

  // Takes the layout an earlier attempt measured (the context is recreated when it is unified).
  bool use_measurement(const KvMeasurement& m) {
    KvChoice& k = a_.kv;
    k.split_tok_s = m.split_tok_s;
    k.unified_tok_s = m.unified_tok_s;
    k.unified_steps = m.unified_steps;
    k.measured_at = m.measured_at;
    k.cached = true;
    if (m.layout == "unified") {
      if (auto why = make_context(true)) {
        add_note(k, "unified (cached): " + *why);
        if (auto again = make_context(false)) return fail(std::move(*again));
        return true;
      }
      k.layout = "unified";
    }
    return true;
  }

  // Sets the adapters on the context, and reserves the compute buffers of the graph with them
  // now (llama.cpp would at the first decode), so that what is allocated is what they take.
  std::optional<std::string> apply_adapters(const llama_context_params& cp) {
    if (auto r = adapters_.apply(ctx_.get()); !r) return r.error().message;
    LogCapture capture;
    const uint32_t n_tokens = std::min(cp.n_ctx, cp.n_ubatch);
    if (llama_graph_reserve(ctx_.get(), n_tokens, cp.n_seq_max, n_tokens) == nullptr) {
      return fmt::format("llama.cpp could not reserve the compute buffers with the adapters: {}",
                         capture.errors());
    }
    return std::nullopt;
  }

  // Placement: the types actually held (largest first), and recipe fallbacks.
  void record_tensor_types() {
    std::map<std::string, TypeCount> hist;
    for (size_t i = 0; i < info_.tensors.size(); ++i) {
      const auto& t = info_.tensors[i];
      const std::string type = choices_.empty() ? t.type : choices_[i].type;
      auto& h = hist[type];
      h.type = type;
      h.tensors++;
      h.elements += static_cast<uint64_t>(t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3]);
      h.bytes += choices_.empty() ? t.bytes : choices_[i].bytes;
      if (!choices_.empty() && !choices_[i].fallback_reason.empty()) {
        a_.placement.fallbacks.push_back(choices_[i]);
      }
    }
    for (auto& [k, v] : hist) a_.placement.tensor_types.push_back(v);
    std::sort(a_.placement.tensor_types.begin(), a_.placement.tensor_types.end(),
              [](const TypeCount& x, const TypeCount& y) { return x.bytes > y.bytes; });
  }

  // Warm-up: validates the loaded model when enabled; a failure ends the attempt if required.
  bool warm_up() {
    if (!spec_.warmup.enabled) return true;
    a_.warmup = run_warmup(model_.get(), ctx_.get(), spec_.warmup);
    if (!adapters_.empty()) {
      check_adapters_change_logits(model_.get(), ctx_.get(), spec_.warmup.prompt, spec_.adapters,
                                   adapters_, a_.warmup);
    }
    sample_device();
    if (!a_.warmup.passed && spec_.warmup.required) {
      return fail("warm-up validation failed: " + a_.warmup.failures.front());
    }
    return true;
  }

  // Task: marks the attempt ok, runs the caller's work (its error fails the attempt), then
  // records the peak device memory.
  void run_task(const AfterLoad& after_load) {
    a_.outcome = Outcome::kOk;
    if (after_load) {
      auto r = after_load(model_.get(), ctx_.get(), spec_);
      if (!r) {
        a_.outcome = Outcome::kFailed;
        a_.reason = r.error().message;
      }
    }
    sample_device();
    record_peak();
  }

 private:
  static constexpr int kProbeSteps = 8;
  static constexpr double kUnifiedMargin = 1.03;

  // Replaces the context (the old one is freed first, so that two are never held) and records
  // what the new one allocated; the reason when llama.cpp could not create it.
  std::optional<std::string> make_context(bool unified) {
    ctx_.reset();
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = spec_.n_ctx * spec_.n_seq;
    cp.n_batch = spec_.n_batch;
    cp.n_ubatch = std::min<uint32_t>(spec_.n_batch, 512);
    cp.n_threads = n_threads_;
    // One sequence per conversation in flight (backend/scheduler.h). Split: each with KV cells
    // of its own, which only its tokens attend over (llama-batched-bench's default); unified:
    // one pool of the same n_ctx * n_seq cells.
    cp.n_seq_max = spec_.n_seq;
    cp.kv_unified = unified;
    cp.n_threads_batch = n_threads_;
    {
      LogCapture capture;
      ctx_.reset(llama_init_from_model(model_.get(), cp));
      if (!ctx_) {
        return fmt::format("llama.cpp failed to create a context of {} x {} tokens ({} KV): {}",
                           spec_.n_seq, spec_.n_ctx, unified ? "unified" : "split",
                           capture.errors());
      }
    }
    if (!adapters_.empty()) {
      if (auto why = apply_adapters(cp)) return why;
    }
    sample_device();
    Simulated allocated = memory_breakdown(ctx_.get());
    // The adapters' tensors are weights of the attempt, on the side of their base tensors.
    const AdapterBytes adapter_bytes = adapters_.allocated();
    allocated.host.weights += adapter_bytes.host;
    allocated.device.weights += adapter_bytes.device;
    a_.allocated_host = allocated.host;
    a_.allocated_device = allocated.device;
    return std::nullopt;
  }

  // Lowers the minimum free device memory seen to what is free now.
  void sample_device() {
    if (acc_) min_free_ = std::min(min_free_, device_free(acc_));
  }

  // The device memory the attempt used at its peak, from the free memory at the start.
  void record_peak() {
    if (acc_) a_.peak_device_bytes = free_before_ - min_free_;
  }

  // Records the reason with the device memory reached; returns false for the phase to return.
  bool fail(std::string reason) {
    sample_device();
    record_peak();
    a_.reason = std::move(reason);
    return false;
  }

  const AttemptSpec& spec_;
  Attempt a_;
  int n_threads_ = 1;
  ggml_backend_dev_t acc_ = nullptr;
  ggml_backend_buffer_ptr withheld_;
  uint64_t free_before_ = 0;
  uint64_t min_free_ = 0;
  ModelInfo info_;
  llama_model_params mp_{};
  std::chrono::steady_clock::time_point t0_;
  llama_model_ptr model_;
  std::vector<TensorChoice> choices_;
  LoadedAdapters adapters_;
  llama_context_ptr ctx_;
};

}  // namespace

Attempt execute_attempt(const AttemptSpec& spec, const AfterLoad& after_load) {
  ensure_llama_backend();
  AttemptRun run(spec);
  test_crash_hook(to_string(spec.strategy));
  if (!run.reserve_devices() || !run.plan() || !run.load_weights() || !run.create_context()) {
    return run.attempt();
  }
  run.record_tensor_types();
  if (!run.warm_up() || !run.choose_kv()) return run.attempt();
  run.run_task(after_load);
  return run.attempt();
}

}  // namespace clinbench
