// Memory plan: projected bytes per device for every strategy, from metadata alone. Uses
// llama.cpp's no_alloc simulation (model and context built without allocating), so the numbers
// are those llama.cpp would allocate; quantized weights come from the recipe's tensor types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "clinbench/adapter.h"
#include "clinbench/backend.h"
#include "clinbench/error.h"
#include "clinbench/model_info.h"
#include "clinbench/strategy.h"

namespace clinbench {

// Defaults of every option struct that plans or loads a model (PlanOptions, LoadOptions,
// ModelConfig, the worker's attempt spec, fidelity's sessions), stated once here.
inline constexpr uint32_t kDefaultContext = 4096;  // tokens
inline constexpr uint32_t kDefaultBatch = 512;     // tokens per llama_decode batch
inline constexpr const char* kDefaultRecipe = "mixed";

// The most sequences (conversations in flight) a context can have: llama.cpp's LLAMA_MAX_SEQ.
inline constexpr uint32_t kMaxSequences = 256;

struct Bytes {
  uint64_t weights = 0;
  uint64_t kv = 0;       // KV cache at the planned context
  uint64_t compute = 0;  // compute (scratch) buffers
  // Host: the process itself (code, thread stacks, allocator). Device: what the backend takes
  // beyond ggml's buffers while computing (device_compute_reserve).
  uint64_t overhead = 0;
  uint64_t total() const { return weights + kv + compute + overhead; }
};

struct Accelerator {
  bool present = false;
  std::string name;  // ggml device name, "" when none
  std::string description;
  uint64_t total = 0;
  uint64_t free = 0;
};

struct StrategyPlan {
  Strategy strategy = Strategy::kNative;
  std::string recipe;      // quantize:* only
  bool applicable = true;  // false: cannot apply to this model/machine at all
  std::string reason;      // why not applicable
  Bytes host;
  Bytes device;
  int n_gpu_layers = 0;  // layers placed on the accelerator
  int n_layers = 0;
  uint64_t weight_bytes = 0;                 // after quantization
  std::vector<TensorChoice> tensor_choices;  // quantize:* only
};

// The conversations of a run that need the most KV cells, so that the plan gives each sequence
// what the items need (their rendered prompt in the model's template, plus each turn's reply
// budget) instead of the whole n_ctx. Empty: n_ctx.
struct CellsProbe {
  struct Conversation {
    std::vector<ChatMessage> messages;  // the turns before the last reply, as the model sees them
    uint32_t turns = 1;                 // replies the conversation generates in its sequence
  };
  std::vector<Conversation> conversations;
  uint32_t max_tokens = 0;   // a turn's reply budget
  int reasoning_budget = 0;  // added per turn when the template thinks (< 0: none)
  Thinking thinking = Thinking::kAuto;
  uint32_t reserve = 8;  // cells for the constrained answer line
};

// Cells a sequence gets for a probe's needs: rounded up to a multiple of this.
inline constexpr uint32_t kCellsGranularity = 256;

struct PlanOptions {
  uint32_t n_ctx = kDefaultContext;  // per sequence; 0: the model's training context; capped at it
  // With conversations: each sequence gets what the neediest of them needs, up to n_ctx.
  CellsProbe cells;
  uint32_t n_batch = kDefaultBatch;
  // Sequences (conversations in flight), each with n_ctx KV cells: the KV cache holds
  // n_ctx * n_seq cells. 1 .. kMaxSequences.
  uint32_t n_seq = 1;
  // The KV cells as one pool every sequence attends over (llama.cpp's kv_unified): the same KV
  // bytes, wider compute buffers (attention spans the pool).
  bool kv_unified = false;
  std::string recipe = kDefaultRecipe;
  std::optional<uint64_t> device_budget;  // default: the accelerator's free memory
  // LoRA adapters on the base: their tensors count as weights on the side of their base tensors.
  std::vector<AdapterSpec> adapters;
};

struct Plan {
  Accelerator accelerator;
  uint32_t n_ctx = 0;  // per sequence
  // The cells the neediest probed conversation needs (before rounding and the n_ctx cap); 0 when
  // none was probed.
  uint32_t n_ctx_items = 0;
  uint32_t n_seq = 1;
  std::vector<StrategyPlan> strategies;  // in auto_chain() order
  double plan_ms = 0;
};

// Host bytes (address space) the worker process needs besides model, KV and compute buffers:
// the binary, shared libraries, allocator and one stack per thread (measured, see plan.cpp);
// at least this process's address space at start (startup_address_space), plus 24 MiB.
uint64_t host_process_overhead();
// Device memory a plan keeps free on a GPU for the backend's own work outside ggml's buffers
// (cuBLAS's workspace, ggml-cuda's scratch pool): `device.overhead` of every strategy that puts
// anything there. 0 without an accelerator and for RPC devices.
uint64_t device_compute_reserve();

// This process's address space (VmSize) when first called: main() calls it first thing, so that
// it is the binary with its libraries, before any model. 0 in an AddressSanitizer build, whose
// shadow memory is terabytes of address space.
uint64_t startup_address_space();

Result<Plan> plan_model(const ModelInfo& model, const PlanOptions& options);
// plan_model in a child process (`clinbench __plan`, model/plan_child.h), so that this process
// never opens the accelerator and a crash inside llama.cpp while planning is an error
// ("the planning process was killed by SIGABRT: ..."), not the end of the caller.
Result<Plan> plan_model_in_child(const ModelInfo& model, const PlanOptions& options);

const StrategyPlan* find_plan(const Plan& plan, Strategy s);

}  // namespace clinbench

#include <nlohmann/json.hpp>

namespace clinbench {

nlohmann::json to_json(const Bytes& bytes);  // weights, kv, compute, overhead, total
nlohmann::json to_json(const Accelerator& acc);
nlohmann::json to_json(const ModelInfo& info);
nlohmann::json to_json(const Plan& plan);
// Readers of the forms above. They throw nlohmann::json::exception on a field of the wrong
// type; plan_from_json turns that, and an unknown strategy, into an error.
Bytes bytes_from_json(const nlohmann::json& j);
Accelerator accelerator_from_json(const nlohmann::json& j);
Result<Plan> plan_from_json(const nlohmann::json& j);
// Human-readable inspect report: model facts, type histogram and the plan table.
std::string format_inspect(const ModelInfo& info, const Plan& plan);

}  // namespace clinbench
