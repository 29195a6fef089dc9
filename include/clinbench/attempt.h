// What one loading attempt did, and the log of a model's attempts: the record every later
// command consumes (docs/attempt-log.md). The loading chain (load.h) writes it; runs store it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "clinbench/adapter.h"
#include "clinbench/error.h"
#include "clinbench/plan.h"
#include "clinbench/strategy.h"

namespace clinbench {

enum class Outcome { kOk, kSkipped, kFailed, kCrashed };
const char* to_string(Outcome o);

enum class Isolation {
  kProcess,  // each attempt in its own worker process (default)
  kNone,     // in this process; model and context freed and the heap trimmed between attempts
};
const char* to_string(Isolation i);

struct WarmupOptions {
  bool enabled = true;
  bool required = true;  // a failed warm-up fails the attempt
  std::string prompt = "A 54-year-old man with type 2 diabetes is started on";
  int n_predict = 8;  // tokens of the greedy generation
};

struct RoundTrip {
  std::string text;
  bool ok = false;
  std::string got;  // detokenized text when it differs
  int n_tokens = 0;
};

struct WarmupReport {
  bool ran = false;
  bool passed = false;
  std::vector<std::string> warnings;
  std::vector<std::string> failures;
  std::vector<RoundTrip> round_trips;
  bool chat_template_present = false;
  bool chat_template_ok = false;
  std::string chat_rendered;  // the rendered system+user conversation
  int bos = -1;
  int eos = -1;
  bool add_bos = false;
  std::string generation;  // greedy continuation of the prompt
  std::vector<int> generated_tokens;
  bool logits_finite = false;
  // With adapters: for each (in order), the largest change of a next-token logit of the prompt
  // it makes alone against the base; an adapter under kAdapterMinLogitDelta is a failure.
  std::vector<double> adapter_logit_delta;
  double ms = 0;
};

// A warm-up fails an adapter whose largest logit change is below this: one that changes
// nothing (a zero lora_b, as PEFT initialises it, or a scale of 0).
inline constexpr double kAdapterMinLogitDelta = 1e-6;

struct Placement {
  int n_gpu_layers = 0;
  int n_layers = 0;
  std::string load_mode;                // "mmap" (as stored) or "quantize-stream"
  std::vector<TypeCount> tensor_types;  // after quantization
  std::vector<TensorChoice> fallbacks;  // tensors whose wanted type could not be used
};

// The KV layout of the attempt's context (docs/attempt-log.md, "kv"), and how it was chosen.
struct KvChoice {
  std::string layout;  // "split" | "unified"; "" when no context was created
  // "requested" (split or unified asked for), "one sequence" (the layouts are the same),
  // "measured" (auto: both timed on the loaded model), "budget" (auto: unified's wider compute
  // buffers do not fit the budgets, so split was the only candidate).
  std::string chosen_by;
  std::string note;  // why, in words ("budget": what did not fit)
  // "measured": aggregate decode tokens/s of each layout: `steps` steps of one token per
  // sequence, every sequence holding `depth` cells of its own; the median step counts.
  std::optional<double> split_tok_s;
  std::optional<double> unified_tok_s;
  int depth = 0;
  int steps = 0;
  // Unified's timed steps: `steps`, or fewer (at least 3) when even its fastest step was slower
  // than split's rate with the margin, so that it could not be chosen and was not timed further.
  int unified_steps = 0;
  double probe_ms = 0;  // the measurement, both contexts' creation included
  // "measured": when (UTC, ISO 8601), and whether the rates were taken from the KV layout cache
  // (an earlier attempt of the same shape on this machine measured them) instead of timed now.
  std::string measured_at;
  bool cached = false;
};

struct Attempt {
  Strategy strategy = Strategy::kNative;
  std::string recipe;
  Outcome outcome = Outcome::kSkipped;
  std::string reason;
  Isolation isolation = Isolation::kProcess;
  Bytes projected_host;
  Bytes projected_device;
  uint64_t available_host = 0;
  uint64_t available_device = 0;
  std::optional<uint64_t> peak_rss_bytes;
  std::optional<uint64_t> peak_device_bytes;
  // What llama.cpp allocated for the loaded model and its context (weights, kv, compute; no
  // overhead), per side, to set against the projection; null when the attempt did not get
  // that far.
  std::optional<Bytes> allocated_host;
  std::optional<Bytes> allocated_device;
  // Device memory the worker allocated and held before loading, so that the attempt saw only
  // the device budget (--device-memory) free: a budget below the card's free memory is real.
  std::optional<uint64_t> device_withheld_bytes;
  // How the host budget was enforced on the worker: "address_space", "resident", or "" (no
  // budget, in-process, or a sanitizer build with kAuto).
  std::string host_limit;
  std::optional<double> init_ms;  // load + context creation
  double wall_ms = 0;             // the whole attempt, worker start to exit
  Placement placement;
  WarmupReport warmup;
  KvChoice kv;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string log_tail;  // last lines the worker wrote to stderr
  // A model served over HTTP (backend = "openai"; strategy "remote" in the attempt log, which
  // is no loading strategy: `strategy` is then meaningless): {"base_url", "api_model",
  // "server_models", "notes"} as the
  // server listed them (GET /models); null for models loaded here.
  nlohmann::json remote;
  // What the evaluation's energy meters measured in the worker (docs/energy.md): {"meters",
  // "unavailable", "evaluation_j", "attributed_j", "sampler"}; null when the attempt evaluated
  // nothing.
  nlohmann::json energy;
};

struct AttemptLog {
  std::string model_path;
  std::string model_sha256;  // "" when hashing was skipped
  std::string architecture;
  // LoRA adapters applied on the base in every attempt (checked against it before the first):
  // path, sha256, scale, rank, alpha, targets, tensor bytes.
  std::vector<AdapterInfo> adapters;
  std::string requested;  // "auto" or one strategy name
  uint32_t n_ctx = 0;     // KV cells per sequence
  // The cells the neediest of the items needs (prompt in the template plus reply budgets), which
  // n_ctx was cut to (rounded up, at most the configured ctx); 0 when not sized from items.
  uint32_t n_ctx_items = 0;
  uint32_t n_seq = 1;  // sequences (conversations in flight), each with its own cells
  // What set n_seq: "requested", "items", "host memory", "device memory", "llama.cpp's limit".
  std::string n_seq_bound;
  std::string kv = "auto";  // the KV layout asked for: "auto", "split" or "unified"
  Accelerator accelerator;
  double plan_ms = 0;
  std::vector<Attempt> attempts;
  std::optional<size_t> succeeded;  // index into attempts
  std::string started_at;           // ISO-8601 UTC
  double wall_ms = 0;
};

// The strategy an attempt log names for the attempt: the loading strategy, or "remote" for a
// served model.
inline constexpr const char* kRemoteStrategyName = "remote";
std::string strategy_name(const Attempt& a);

nlohmann::json to_json(const Attempt& a);
Result<Attempt> attempt_from_json(const nlohmann::json& j);
nlohmann::json to_json(const AttemptLog& log);
// An adapter as the attempt log records it: path, sha256, scale, name, rank, alpha, targets,
// bytes.
nlohmann::json to_json(const AdapterInfo& adapter);
AdapterInfo adapter_info_from_json(const nlohmann::json& j);
Result<AttemptLog> attempt_log_from_json(const nlohmann::json& j);

// Text table of the attempts, for terminals.
std::string format_attempt_log(const AttemptLog& log);

}  // namespace clinbench
