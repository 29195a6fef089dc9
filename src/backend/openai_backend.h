// Backend over the OpenAI-compatible chat API (llama-server, vLLM, TGI, ...): one streamed
// POST {base_url}/chat/completions per generation turn. Token counts come from the answer's
// usage; times are measured here (time to first token from the stream).
//
// Contract: generate() is thread-safe, so several items may be evaluated at once (the run
// supervisor keeps `in_flight` of them going). generate_stream() keeps up to in_flight requests
// going at once. loglik() is unsupported: the chat API returns no prompt-token logprobs, and
// llama-server (llama.cpp 80fb11a) refuses "echo" on /completions, so it fails with kUnsupported
// and kLoglikUnavailable says why. count_tokens() returns 0 (counting would cost a request).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "clinbench/backend.h"

namespace clinbench {

struct OpenAIOptions {
  std::string base_url;   // "http://127.0.0.1:8080/v1"
  std::string api_model;  // "model" of each request
  std::string api_key;    // the key itself ("" for none); never logged
  std::string ca_cert;    // PEM file of the CAs to trust for https ("": the system's)
  int in_flight = 4;
  double timeout_s = 600;
  int retries = 5;
  double retry_backoff_s = 0.5;
};

inline constexpr const char* kLoglikUnavailable =
    "log-likelihood scoring needs prompt-token logprobs, which the OpenAI chat API does not "
    "return (and llama-server refuses \"echo\" on /completions)";

// GET {base_url}/models, with the same retries as generation: the ids the server lists.
Result<std::vector<std::string>> list_remote_models(const OpenAIOptions& options);

// REQUIRES: options.api_model non-empty. Errors only for a malformed base_url.
Result<std::unique_ptr<Backend>> make_openai_backend(const OpenAIOptions& options);

}  // namespace clinbench
