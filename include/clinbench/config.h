// A run's configuration: models, datasets, prompts and decoding (docs/config.md). Read from a
// TOML file by `clinbench run --config FILE`, or filled from flags by the short form.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clinbench/adapter.h"
#include "clinbench/error.h"
#include "clinbench/evaluate.h"
#include "clinbench/plan.h"

namespace clinbench {

struct ModelConfig {
  std::string name;  // key in the run; default: the file stem
  std::string path;  // GGUF file
  std::string strategy = "auto";
  std::string recipe = kDefaultRecipe;
  std::optional<uint64_t> host_memory;    // bytes
  std::optional<uint64_t> device_memory;  // bytes
  uint32_t ctx = kDefaultContext;
  int threads = 0;  // 0: all cores
  // LoRA adapters applied on the base in order (docs/adapters.md); paths relative to the config
  // file as `path` is. Llama only.
  std::vector<AdapterSpec> adapters;
  // backend = "openai": a model served over the OpenAI-compatible HTTP API (llama-server, vLLM,
  // TGI; docs/scale-out.md). path, strategy, recipe, memory, ctx and threads are llama-only.
  std::string backend = "llama";  // "llama" (in-process, path) | "openai" (base_url)
  std::string base_url;           // the API root, e.g. "http://127.0.0.1:8080/v1"
  std::string api_model;          // "model" of each request; "": the first the server lists
  std::string api_key_env;        // environment variable holding the API key; "": no key
  std::string ca_cert;            // PEM file of the CAs to trust for https; "": the system's
  int in_flight = 4;              // requests in flight at once
  double timeout_s = 600;         // per request, connection to last byte
  int retries = 5;                // retries of a request (connection errors, 429, 5xx)
  double retry_backoff_s = 0.5;   // first retry delay; doubles each retry, jittered, <= 30 s
  // Whether this model thinks; unset: the run's [decoding] thinking.
  std::optional<Thinking> thinking;
  bool remote() const { return backend == "openai"; }
};

struct DatasetConfig {
  std::string name;             // key in the run; default: the file stem
  std::string path;             // file or directory
  std::string format = "auto";  // auto | curebench | medqa | mmlu | pubmedqa
  std::string split;            // "" : inferred from the path
  std::optional<size_t> limit;  // evaluate a subset of this many items
  uint64_t seed = 0;            // which subset (deterministic for a seed)
};

struct RunConfig {
  std::vector<ModelConfig> models;
  std::vector<DatasetConfig> datasets;
  PromptConfig prompts;
  DecodingConfig decoding;
  std::string out;                           // run directory
  std::optional<std::pair<int, int>> shard;  // (I, N): evaluate shard I of N
};

// Parses a TOML config. Errors name the file, the key (e.g. "models[1].ctx") and what was wrong:
// unknown keys, wrong types, missing required keys, bad sizes or enum values.
Result<RunConfig> read_run_config(const std::filesystem::path& path);
Result<RunConfig> parse_run_config(std::string_view toml_text, const std::string& source_name);
nlohmann::json to_json(const RunConfig& config);

}  // namespace clinbench

namespace clinbench {

// The flags of `clinbench run` (docs/cli.md): a config file or the short form (one model and
// one dataset), then overrides of what either gives. Unset fields change nothing.
struct RunFlags {
  std::string config;    // TOML file; exclusive with model, base_url and dataset
  std::string model;     // short form: a GGUF file
  std::string base_url;  // short form: a served model instead of `model`
  std::string api_model;
  std::vector<std::string> lora;  // FILE[:SCALE] each: adapters on every loaded model
  std::string dataset;            // short form
  std::optional<size_t> limit;
  std::string out;
  std::string scoring;
  std::string strategy;
  std::string shard;  // "I/N"
  std::string ca_cert;
  std::optional<int> in_flight;
  std::optional<int> max_tokens;
  std::optional<uint32_t> ctx;
  std::optional<int> threads;           // CPU threads of models loaded here (0: all cores)
  std::optional<uint64_t> seed;         // the subset's seed (short form) and the sampling seed
  std::optional<std::string> parallel;  // "auto" or 1 .. 256
  std::string kv;                       // "auto" | "split" | "unified"; "": as configured
  std::string thinking;                 // "auto" | "on" | "off": every model's; "": as configured
  std::optional<std::string> reasoning_budget;  // tokens, or "unlimited"
  bool constrained_answer = false;
  bool strict = false;
};

// The run config the flags ask for. Errors: the config file's (read_run_config), and
// kInvalidArgument naming the flag for flags that conflict, are missing or have a bad value.
// A `parallel` value as a flag gives it: "auto" (kParallelAuto) or 1 .. kMaxSequences; the
// error names `what` (the flag).
Result<int> parse_parallel(std::string_view what, std::string_view text);

Result<RunConfig> run_config_from_flags(const RunFlags& flags);

}  // namespace clinbench
