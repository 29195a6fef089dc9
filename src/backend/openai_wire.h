// The OpenAI-compatible chat API on the wire: the request body, the streamed answer
// (server-sent events, "data: {chunk}" lines ending with "data: [DONE]") or a plain
// chat.completion object, and GET /models. Every malformed answer is an error that says what
// was wrong and where ("chunk 3: choices[0].delta.content: expected a string, got a number").
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clinbench/backend.h"

namespace clinbench {

// {"model", "messages", "max_tokens", "temperature", "seed", "stream": true,
//  "stream_options": {"include_usage": true}}.
nlohmann::json chat_request_json(const std::string& model, const std::vector<ChatMessage>& messages,
                                 const GenerationParams& params);

// What one chat completion returned.
struct ChatReply {
  std::string text;           // content: the answer
  std::string reasoning;      // reasoning_content: a thinking model's reasoning, kept apart
  std::string finish_reason;  // "stop", "length", ...
  int64_t prompt_tokens = 0;  // usage
  int64_t completion_tokens = 0;
  std::string model;                        // the "model" the server answered with ("" when absent)
  std::optional<int64_t> reasoning_tokens;  // usage.completion_tokens_details, when given
};

// Reads an answer as it arrives. feed() returns false once the answer is malformed (error()
// says why); finish() checks that it was complete. Both SSE and a plain JSON body are accepted.
class ChatStreamParser {
 public:
  // Starts over (a retried request).
  void reset();
  // Bytes of the body as they arrive. Sets first_token_seen() at the first text.
  bool feed(std::string_view data);
  // The reply, or what was wrong or missing (no [DONE], no usage, no choices...).
  Result<ChatReply> finish();

  bool first_token_seen() const { return first_token_; }
  const std::string& error() const { return error_; }

 private:
  bool line(std::string_view line);
  bool chunk(const nlohmann::json& j);

  std::string buffer_;
  std::string raw_;  // the whole body, for a non-SSE answer
  bool sse_ = false;
  bool done_ = false;
  bool first_token_ = false;
  int chunks_ = 0;
  std::string reasoning_;
  std::optional<int64_t> prompt_tokens_, completion_tokens_;
  std::optional<int64_t> reasoning_tokens_;  // usage.completion_tokens_details, when given
  ChatReply reply_;
  std::string error_;
};

// The ids of GET /models ({"object": "list", "data": [{"id": ...}, ...]}), in order.
Result<std::vector<std::string>> parse_models_response(const std::string& body);

}  // namespace clinbench
