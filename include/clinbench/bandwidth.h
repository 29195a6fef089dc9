// Memory bandwidth, measured the way a decode step uses memory, and the decode ceiling it sets
// (DESIGN.md "Where the time goes": tokens/s <= bandwidth / bytes a step reads). `inspect
// --bandwidth` prints both; the benchmarks state decode rates as a fraction of the ceiling.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "clinbench/error.h"
#include "clinbench/model_info.h"
#include "clinbench/plan.h"

namespace clinbench {

// How fast a ggml device reads memory: ggml's own matrix-vector product over an F32 matrix much
// larger than any cache, the operation a decode step spends its time in, with too few
// multiplications to bind (2 per 4 bytes read). One untimed run, then `reps` timed ones.
struct Bandwidth {
  std::string device;  // "CPU", or the accelerator's ggml name ("CUDA0", "RPC[host:port]")
  std::string description;
  int threads = 0;                  // CPU threads; 0 for an accelerator
  uint64_t bytes = 0;               // the matrix: bytes read per run
  std::vector<double> bytes_per_s;  // each timed run
  double best() const;              // the fastest run (STREAM's convention)
  double median() const;
};

struct BandwidthOptions {
  bool accelerator = false;  // the accelerator (a local GPU, else an RPC device), not the CPU
  int threads = 0;           // CPU threads; 0: every core
  uint64_t bytes = 1ull << 30;
  int reps = 5;
};

// Errors name the device and what failed: no accelerator, a matrix the device cannot hold, a
// compute that fails, options out of range (bytes under 1 MiB, reps under 1).
Result<Bandwidth> measure_bandwidth(const BandwidthOptions& options);

// Bytes one decode step reads from the weights whatever the batch: every tensor but the token
// embedding, of which a step reads only its tokens' rows; the whole embedding when the output
// head is tied to it (no output.weight).
uint64_t decode_weight_bytes(const ModelInfo& model);

// The ceiling bandwidth sets on decoding: n_seq sequences `depth` cells deep take one token each
// per step, and a step reads the weights once and every sequence's KV (kv_bytes_per_cell per
// cell). Aggregate tokens/s; 0 when bytes_per_s is not positive.
double roofline_tokens_per_s(double bytes_per_s, uint64_t weight_bytes, uint64_t kv_bytes_per_cell,
                             int n_seq, int depth);

// KV bytes per cell as the plan counts them: its native KV over its cells (n_ctx x n_seq). 0 when
// the plan has no native strategy.
uint64_t kv_bytes_per_cell(const Plan& plan);

// What `inspect --bandwidth` shows: each device's bandwidth and the ceiling it sets on decoding
// the model with n_seq sequences `depth` cells deep, for each n_seq.
struct Roofline {
  std::vector<Bandwidth> devices;  // the CPU, then the accelerator when there is one
  uint64_t weight_bytes = 0;       // decode_weight_bytes
  uint64_t kv_bytes_per_cell = 0;
  int depth = 0;
  std::vector<int> n_seqs;
};
// Measures the CPU (options.threads), and the plan's accelerator when it has one, and fills the
// rest from the model and plan: n_seqs 1, 8, 32 and the plan's n_seq.
Result<Roofline> measure_roofline(const ModelInfo& model, const Plan& plan,
                                  const BandwidthOptions& options, int depth);
std::string format_roofline(const Roofline& roofline);
nlohmann::json to_json(const Bandwidth& bandwidth);
nlohmann::json to_json(const Roofline& roofline);  // the ceilings computed, for each device

}  // namespace clinbench
