// inspect, load, synth: thin handlers over the model library.
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <sstream>
#include <utility>

#include "cli/commands.h"
#include "clinbench/adapter.h"
#include "clinbench/atomic_file.h"
#include "clinbench/bandwidth.h"
#include "clinbench/config.h"
#include "clinbench/load.h"
#include "clinbench/model_info.h"
#include "clinbench/plan.h"
#include "clinbench/strategy.h"
#include "clinbench/synth.h"
#include "clinbench/units.h"

namespace clinbench::cli {

int report_error(const Error& error) {
  std::fprintf(stderr, "clinbench: %s\n", error.message.c_str());
  switch (error.code) {
    case ErrorCode::kInvalidArgument:
      return kExitUsage;
    case ErrorCode::kNotFound:
    case ErrorCode::kIo:
    case ErrorCode::kCorrupt:
    case ErrorCode::kUnsupported:
      return kExitInput;
    default:
      return kExitFailed;
  }
}

namespace {

// A size flag ("12GiB"): parsed by the handler so the error names the flag.
Result<std::optional<uint64_t>> size_flag(const std::string& flag, const std::string& value) {
  if (value.empty()) return std::optional<uint64_t>{};
  auto v = parse_size(value);
  if (!v) return std::unexpected(v.error().with_context(flag));
  return std::optional<uint64_t>{*v};
}

// A flag with a fixed set of values: true and *out set, or the error printed naming the flag,
// the value and the choices.
template <typename E>
bool choice_flag(const char* flag, const std::string& value,
                 std::initializer_list<std::pair<const char*, E>> choices, E* out) {
  std::string names;
  for (const auto& [name, e] : choices) {
    if (value == name) {
      *out = e;
      return true;
    }
    names += names.empty() ? name : fmt::format(", {}", name);
  }
  std::fprintf(stderr, "clinbench: %s: unknown value '%s' (expected %s)\n", flag, value.c_str(),
               names.c_str());
  return false;
}

// "-" is standard output; a file is replaced atomically, so a failed write keeps the old one.
Result<void> write_text(const std::string& path, const std::string& text) {
  if (path.empty() || path == "-") {
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) {
      return make_error(ErrorCode::kIo, "standard output: cannot write");
    }
    return {};
  }
  return write_file_atomically(path, text);
}

Command inspect_command() {
  return {"inspect", "Show a GGUF model's facts and its memory plan for every strategy",
          [](CLI::App* sub) -> std::function<int()> {
            struct Opts {
              std::string model;
              bool json = false;
              bool no_hash = false;
              uint32_t n_ctx = PlanOptions{}.n_ctx;
              uint32_t n_seq = PlanOptions{}.n_seq;
              std::string device_memory, rpc;
              std::string recipe = PlanOptions{}.recipe;
              bool bandwidth = false;
              int threads = 0;
              int depth = 512;
              std::string bandwidth_size = "1GiB";
            };
            auto o = std::make_shared<Opts>();
            sub->add_option("model", o->model, "GGUF model file")->required();
            sub->add_flag("--json", o->json, "print JSON instead of text");
            sub->add_flag("--no-hash", o->no_hash, "skip the streamed SHA-256 of the file");
            sub->add_option("--ctx", o->n_ctx,
                            "context length of each sequence the plan assumes (0: training)")
                ->capture_default_str();
            sub->add_option("--parallel", o->n_seq,
                            "sequences (conversations in flight) the plan's KV holds, 1-256")
                ->capture_default_str()
                ->check(CLI::Range(1, static_cast<int>(kMaxSequences)));
            sub->add_option("--device-memory", o->device_memory,
                            "device budget for the offload plan (e.g. 16GiB)");
            sub->add_option("--recipe", o->recipe, "quantization recipe for quantize:* plans")
                ->capture_default_str();
            sub->add_flag("--bandwidth", o->bandwidth,
                          "also measure the memory bandwidth of the CPU and the accelerator and "
                          "show the decode ceiling it sets for this model");
            sub->add_option("--threads", o->threads,
                            "CPU threads of the bandwidth measurement (0: all cores)")
                ->capture_default_str()
                ->check(CLI::Range(0, 1024));
            sub->add_option("--depth", o->depth, "KV cells per sequence the decode ceiling assumes")
                ->capture_default_str()
                ->check(CLI::Range(0, 1 << 24));
            sub->add_option("--bandwidth-size", o->bandwidth_size,
                            "size of the matrix the bandwidth measurement reads (at least 1MiB)")
                ->capture_default_str();
            add_rpc_option(sub, &o->rpc);
            return [o]() -> int {
              if (auto rc = apply_rpc_option(o->rpc)) return *rc;
              auto dev = size_flag("--device-memory", o->device_memory);
              if (!dev) return report_error(dev.error());
              auto matrix = size_flag("--bandwidth-size", o->bandwidth_size);
              if (!matrix) return report_error(matrix.error());
              if (o->bandwidth && matrix->value_or(0) < (1ull << 20)) {
                std::fprintf(stderr,
                             "clinbench: --bandwidth-size: '%s' is too small to tell memory "
                             "from cache (at least 1MiB)\n",
                             o->bandwidth_size.c_str());
                return kExitUsage;
              }
              auto info = read_model_info(o->model, {.hash = !o->no_hash});
              if (!info) return report_error(info.error());
              PlanOptions po;
              po.n_ctx = o->n_ctx;
              po.n_seq = o->n_seq;
              po.recipe = o->recipe;
              po.device_budget = *dev;
              // In a child, as `load` plans: a crash inside llama.cpp is an error, not an abort.
              auto plan = plan_model_in_child(*info, po);
              if (!plan) return report_error(plan.error());
              std::optional<Roofline> roofline;
              if (o->bandwidth) {
                BandwidthOptions bo{.threads = o->threads, .bytes = matrix->value_or(0)};
                auto r = measure_roofline(*info, *plan, bo, o->depth);
                if (!r) return report_error(r.error());
                roofline = std::move(*r);
              }
              if (o->json) {
                nlohmann::json j = to_json(*info);
                j["plan"] = to_json(*plan);
                if (roofline) j["roofline"] = to_json(*roofline);
                std::cout << j.dump(2) << "\n";
              } else {
                std::cout << format_inspect(*info, *plan);
                if (roofline) std::cout << "\n" << format_roofline(*roofline);
              }
              return kExitOk;
            };
          }};
}

// load's flags as given; apply_load_flags turns those that need parsing into `lo`.
struct LoadFlags {
  std::string model;
  LoadOptions lo;
  std::string host_memory, device_memory, isolation = "process", host_limit = "auto";
  std::string parallel = "1";
  std::vector<std::string> lora;  // FILE[:SCALE] each
  std::string kv = "auto";
  std::string rpc;
  bool json = false, list_recipes = false, no_warmup = false, warmup_optional = false;
  bool no_hash = false, attempt_all = false;
  std::string json_out;
};

// Registers load's flags and positional model on sub, bound to *o.
void add_load_flags(CLI::App* sub, LoadFlags* o) {
  sub->add_option("model", o->model, "GGUF model file");
  sub->add_option("--strategy", o->lo.strategy,
                  "auto | native | quantize:q8 | quantize:q4 | offload | cpu")
      ->capture_default_str();
  sub->add_option("--recipe", o->lo.recipe, "quantization recipe: a built-in name or a recipe file")
      ->capture_default_str();
  sub->add_flag("--list-recipes", o->list_recipes, "list the built-in recipes and exit");
  sub->add_option("--lora", o->lora,
                  "a LoRA adapter FILE[:SCALE] applied on the base in every attempt "
                  "(repeatable; docs/adapters.md)")
      ->allow_extra_args(false);  // one FILE[:SCALE] per --lora
  sub->add_option("--host-memory", o->host_memory,
                  "host memory budget, e.g. 8GiB (default: MemAvailable); enforced "
                  "on each worker (see --host-limit)");
  sub->add_option("--host-limit", o->host_limit,
                  "how the host budget is enforced: address-space (RLIMIT_AS, mmap'd "
                  "weights count), resident (the worker is stopped once its anonymous "
                  "and shared resident memory is over it), auto (address-space "
                  "without an accelerator, resident with one)")
      ->capture_default_str();
  sub->add_option("--device-memory", o->device_memory,
                  "accelerator memory budget (default: its free memory); enforced by "
                  "allocating the rest of the free memory before each attempt");
  sub->add_option("--ctx", o->lo.n_ctx, "context length of each sequence")->capture_default_str();
  sub->add_option("--parallel", o->parallel,
                  "sequences (conversations in flight) the context holds: 1-256, or auto (as "
                  "many as fit the budgets, up to 256)")
      ->capture_default_str();
  sub->add_option("--kv", o->kv,
                  "KV layout of the sequences: auto (both measured after the warm-up, the "
                  "faster kept), split (cells of its own per sequence) or unified (one pool)")
      ->capture_default_str();
  sub->add_option("--threads", o->lo.n_threads, "CPU threads (0: all cores)")
      ->capture_default_str();
  sub->add_option("--isolation", o->isolation,
                  "process: each attempt in a worker process; none: in this process")
      ->capture_default_str();
  sub->add_flag("--no-warmup", o->no_warmup, "skip warm-up validation");
  sub->add_flag("--warmup-optional", o->warmup_optional,
                "a failed warm-up is recorded but does not fail the attempt");
  sub->add_option("--prompt", o->lo.warmup.prompt, "prompt of the warm-up generation");
  sub->add_option("--n-predict", o->lo.warmup.n_predict, "tokens the warm-up generation produces")
      ->capture_default_str();
  sub->add_flag("--no-hash", o->no_hash, "skip the SHA-256 of the model file");
  sub->add_flag("--attempt-all", o->attempt_all,
                "attempt strategies the plan says do not fit (to check the plan)");
  sub->add_flag("--json", o->json, "print the attempt log as JSON");
  sub->add_option("--json-out", o->json_out, "also write the attempt log JSON here");
  add_rpc_option(sub, &o->rpc);
}

// The flags that fill o.lo beyond their own option: std::nullopt when fine, else the exit code
// after printing the error.
std::optional<int> apply_load_flags(LoadFlags& o) {
  auto host = size_flag("--host-memory", o.host_memory);
  if (!host) return report_error(host.error());
  auto dev = size_flag("--device-memory", o.device_memory);
  if (!dev) return report_error(dev.error());
  o.lo.host_budget = *host;
  o.lo.device_budget = *dev;
  if (!choice_flag("--isolation", o.isolation,
                   {{"process", Isolation::kProcess}, {"none", Isolation::kNone}},
                   &o.lo.isolation) ||
      !choice_flag("--host-limit", o.host_limit,
                   {{"auto", HostLimit::kAuto},
                    {"address-space", HostLimit::kAddressSpace},
                    {"resident", HostLimit::kResident}},
                   &o.lo.host_limit) ||
      !choice_flag(
          "--kv", o.kv,
          {{"auto", KvLayout::kAuto}, {"split", KvLayout::kSplit}, {"unified", KvLayout::kUnified}},
          &o.lo.kv)) {
    return kExitUsage;
  }
  auto parallel = parse_parallel("--parallel", o.parallel);
  if (!parallel) return report_error(parallel.error());
  o.lo.n_seq = static_cast<uint32_t>(*parallel);  // kParallelAuto (0): planned
  for (const std::string& text : o.lora) {
    auto spec = parse_adapter_spec(text, "--lora");
    if (!spec) return report_error(spec.error());
    o.lo.adapters.push_back(std::move(*spec));
  }
  o.lo.warmup.enabled = !o.no_warmup;
  o.lo.warmup.required = !o.warmup_optional;
  o.lo.hash = !o.no_hash;
  o.lo.skip_over_budget = !o.attempt_all;
  return std::nullopt;
}

// The recipes listed, or the model loaded through the chain and its attempt log printed (text or
// JSON, and to --json-out); the exit code.
int run_load(LoadFlags& o) {
  if (o.list_recipes) {
    std::cout << format_recipes(builtin_recipes());
    return kExitOk;
  }
  if (o.model.empty()) {
    std::fprintf(stderr, "clinbench load: a model file is required\n");
    return kExitUsage;
  }
  if (auto rc = apply_rpc_option(o.rpc)) return *rc;
  if (auto rc = apply_load_flags(o)) return *rc;
  auto log = run_load_chain(o.model, o.lo);
  if (!log) return report_error(log.error());
  const std::string js = to_json(*log).dump(2) + "\n";
  if (o.json) {
    std::cout << js;
  } else {
    std::cout << format_attempt_log(*log);
  }
  if (!o.json_out.empty()) {
    if (auto w = write_text(o.json_out, js); !w) {
      std::fprintf(stderr, "clinbench: %s\n", w.error().message.c_str());
      return kExitFailed;
    }
  }
  return log->succeeded ? kExitOk : kExitFailed;
}

Command load_command() {
  return {"load",
          "Load a model through the strategy chain with warm-up validation; print the attempt log",
          [](CLI::App* sub) -> std::function<int()> {
            auto o = std::make_shared<LoadFlags>();
            add_load_flags(sub, o.get());
            return [o]() -> int { return run_load(*o); };
          }};
}

// synth's adapter flags (--lora-for and what it takes).
void add_lora_synth_flags(CLI::App* sub, LoraSynthOptions* lo) {
  sub->add_option("--lora-for", lo->base,
                  "write a random LoRA adapter for this base model .gguf instead of a "
                  "model (--type f32 | f16, default f32)");
  sub->add_option("--rank", lo->rank, "LoRA rank")->capture_default_str();
  sub->add_option("--alpha", lo->alpha, "LoRA alpha (default: the rank)");
  sub->add_option("--scale-init", lo->scale_init,
                  "standard deviation of the adapter's random values")
      ->capture_default_str();
  sub->add_option("--target", lo->targets,
                  "base tensor to adapt, repeatable: a block tensor's short name "
                  "(attn_q) or a full name (output.weight); default: the attention "
                  "and feed-forward projections");
  sub->add_flag("--zero", lo->zero,
                "lora_b all zero (PEFT's initial state): an adapter that changes "
                "nothing");
}

// synth --lora-for: the adapter written, or nullopt when the flag is absent (and no adapter
// flag was given without it).
std::optional<int> run_synth_lora(const CLI::App& sub, LoraSynthOptions lo, const SynthOptions& so,
                                  const std::string& out) {
  if (lo.base.empty()) {
    for (const char* f : {"--rank", "--alpha", "--scale-init", "--target", "--zero"}) {
      if (sub.count(f) > 0) {
        std::fprintf(stderr, "clinbench synth: %s needs --lora-for BASE.gguf\n", f);
        return kExitUsage;
      }
    }
    return std::nullopt;
  }
  lo.seed = so.seed;
  if (sub.count("--type") > 0) lo.type = so.type;
  auto r = write_synthetic_lora(lo, out);
  if (!r) return report_error(r.error());
  std::cout << fmt::format("wrote {}: LoRA adapter of rank {}, {} parameters, {}\n", out, lo.rank,
                           r->n_params, format_bytes(r->file_bytes));
  return kExitOk;
}

Command synth_command() {
  return {"synth",
          "Write a synthetic GGUF of a real architecture and shape (random weights, real vocab)",
          [](CLI::App* sub) -> std::function<int()> {
            struct Opts {
              SynthOptions so;
              std::string preset, out, chat_template;
              bool list = false;
              std::optional<uint32_t> layers, embd, ff, heads, kv_heads, ctx;
              LoraSynthOptions lora;
            };
            auto o = std::make_shared<Opts>();
            sub->add_option("--preset", o->preset,
                            "llama3-8b | mistral-7b | qwen2-7b | gemma2-9b | llama-300m | "
                            "llama-tiny");
            sub->add_option("--arch", o->so.shape.arch, "llama | qwen2 | gemma2 | mistral");
            sub->add_option("--layers", o->layers, "transformer blocks");
            sub->add_option("--embd", o->embd, "hidden width");
            sub->add_option("--ff", o->ff, "feed-forward width");
            sub->add_option("--heads", o->heads, "attention heads");
            sub->add_option("--kv-heads", o->kv_heads, "key/value heads");
            sub->add_option("--ctx", o->ctx, "training context length");
            sub->add_option("--vocab", o->so.shape.vocab,
                            "llama.cpp vocabulary name (llama-bpe, llama-spm, qwen2, gemma-4, "
                            "...) or a vocab .gguf path");
            sub->add_option("--type", o->so.type, "f32 | f16 | q8_0 | q4_0 | q4_K")
                ->capture_default_str();
            sub->add_option("--seed", o->so.seed, "random seed")->capture_default_str();
            sub->add_flag("--sparse", o->so.sparse,
                          "write metadata and a sparse all-zero data section (for inspect)");
            sub->add_option("--name", o->so.name, "general.name of the model");
            sub->add_option("--chat-template", o->chat_template,
                            "a Jinja chat template file for the model (default: its "
                            "architecture's; e.g. a reasoning model's, to try thinking)");
            sub->add_flag("--list-presets", o->list, "list the presets and exit");
            sub->add_option("-o,--output", o->out, "output .gguf path");
            add_lora_synth_flags(sub, &o->lora);
            return [o, sub]() -> int {
              if (o->list) {
                for (const auto& p : synth_presets()) {
                  std::cout << fmt::format("{:<12} {}\n", p.name, p.description);
                }
                return kExitOk;
              }
              if (o->out.empty()) {
                std::fprintf(stderr, "clinbench synth: -o OUT.gguf is required\n");
                return kExitUsage;
              }
              if (auto rc = run_synth_lora(*sub, o->lora, o->so, o->out)) return *rc;
              SynthOptions so = o->so;
              if (!o->chat_template.empty()) {
                std::ifstream in(o->chat_template, std::ios::binary);
                std::ostringstream text;
                text << in.rdbuf();
                if (!in || text.str().empty()) {
                  std::fprintf(stderr, "clinbench synth: --chat-template: cannot read '%s'\n",
                               o->chat_template.c_str());
                  return kExitUsage;
                }
                so.chat_template = text.str();
              }
              if (!o->preset.empty()) {
                bool found = false;
                for (const auto& p : synth_presets()) {
                  if (p.name == o->preset) {
                    const std::string vocab = so.shape.vocab;
                    so.shape = p.shape;
                    if (!vocab.empty()) so.shape.vocab = vocab;
                    if (so.name.empty()) so.name = "synthetic " + p.name;
                    found = true;
                  }
                }
                if (!found) {
                  std::fprintf(stderr, "clinbench: --preset: unknown preset '%s'\n",
                               o->preset.c_str());
                  return kExitUsage;
                }
              }
              if (o->layers) so.shape.n_layer = *o->layers;
              if (o->embd) so.shape.n_embd = *o->embd;
              if (o->ff) so.shape.n_ff = *o->ff;
              if (o->heads) so.shape.n_head = *o->heads;
              if (o->kv_heads) so.shape.n_head_kv = *o->kv_heads;
              if (o->ctx) so.shape.n_ctx = *o->ctx;
              auto r = write_synthetic_model(so, o->out);
              if (!r) return report_error(r.error());
              std::cout << fmt::format("wrote {}: {} parameters, {}{}\n", o->out, r->n_params,
                                       format_bytes(r->file_bytes), so.sparse ? " (sparse)" : "");
              return kExitOk;
            };
          }};
}

}  // namespace

std::vector<Command> model_commands() {
  return {inspect_command(), load_command(), synth_command()};
}

}  // namespace clinbench::cli
