// A run's configuration: models, datasets, prompts and decoding (docs/config.md). Read from a
// TOML file by `clinbench run --config FILE`, or filled from flags by the short form.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "clinbench/error.h"

namespace clinbench {

struct ModelConfig {
  std::string name;  // key in the run; default: the file stem
  std::string path;  // GGUF file
  std::string strategy = "auto";
  std::string recipe = "mixed";
  std::optional<uint64_t> host_memory;    // bytes
  std::optional<uint64_t> device_memory;  // bytes
  uint32_t ctx = 4096;
  int threads = 0;  // 0: all cores
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

enum class Scoring { kGenerate, kLoglik };
const char* to_string(Scoring s);
std::optional<Scoring> scoring_from_string(const std::string& s);

struct PromptConfig {
  std::string system = "You are a careful clinical expert. Answer medical questions accurately.";
  std::string multi_choice_instruction =
      "Think briefly, then give your final answer on the last line as 'Answer: X', where X is "
      "the letter of the correct option.";
  std::string open_instruction = "Answer the question concisely.";
  std::string map_instruction =
      "Which option matches your answer? Reply with 'Answer: X', where X is the option letter.";
};

struct DecodingConfig {
  Scoring scoring = Scoring::kGenerate;
  int max_tokens = 512;             // per turn
  float temperature = 0.0f;         // 0: greedy
  uint64_t seed = 0;                // sampling seed
  bool constrained_answer = false;  // grammar-constrained final "Answer: X"
  bool strict = false;              // a bad dataset row fails the run
  // Items whose generation turns decode together as parallel sequences in one context (1-7).
  // On CPUs decode is bound by memory bandwidth, so a few sequences cost little more than one.
  int parallel = 4;
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
