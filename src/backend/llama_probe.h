// Token-level access to a loaded llama.cpp model for fidelity measurement: prompt tokens from the
// model's chat template, greedy continuations, next-token log-probabilities at chosen positions,
// and the tokenizer's facts. The rest of clinbench speaks clinbench types; this header does not
// include llama.h.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "clinbench/backend.h"
#include "clinbench/error.h"

struct llama_model;
struct llama_context;

namespace clinbench {

class LlamaChat;

// What a tokenizer is, as two files of one model must agree on it.
struct VocabFacts {
  std::string model_type;                  // tokenizer.ggml.model as llama.cpp reads it
  std::vector<std::string> token_text;     // by id
  std::vector<int> token_attr;             // llama_token_attr bits, by id
  std::map<std::string, int32_t> special;  // "bos", "eos", "eot", "sep", "nl", "pad" -> id (-1)
  bool add_bos = false;
  bool add_eos = false;
  std::string chat_template;  // "" when the file has none
};

class LlamaProbe {
 public:
  // Does not own model or context; they must outlive the probe. REQUIRES: ctx from model.
  LlamaProbe(llama_model* model, llama_context* ctx);
  // A vocabulary-only load of `path` (no weights, no context), owned by the probe: tokenizer and
  // template questions only; forward() and greedy() fail.
  static Result<std::unique_ptr<LlamaProbe>> open_vocab(const std::string& path);
  ~LlamaProbe();
  LlamaProbe(const LlamaProbe&) = delete;
  LlamaProbe& operator=(const LlamaProbe&) = delete;

  int n_vocab() const;
  // The conversation rendered with the model's chat template, plus the start of the assistant's
  // reply, as the evaluation backend tokenizes it.
  Result<std::vector<int32_t>> prompt_tokens(const std::vector<ChatMessage>& messages,
                                             const std::string& assistant_prefix) const;
  // Plain text: no BOS, special tokens not parsed.
  std::vector<int32_t> tokenize(const std::string& text) const;
  std::string piece(int32_t token) const;
  bool is_end_of_generation(int32_t token) const;

  // Greedy continuation of `prompt` (argmax at every step), up to max_tokens; an
  // end-of-generation token ends it and is included.
  Result<std::vector<int32_t>> greedy(const std::vector<int32_t>& prompt, int max_tokens);
  // Evaluates `tokens` from position 0 (cache cleared first) and returns the log-softmax of the
  // next-token logits at every position in [from, tokens.size()): rows of n_vocab() floats,
  // concatenated. REQUIRES: from < tokens.size().
  Result<std::vector<float>> log_probs(const std::vector<int32_t>& tokens, size_t from);
  // Log-probability of each continuation after `prompt` (the sum over its tokens): the prompt
  // is evaluated once, each continuation after it in turn. REQUIRES: prompt and every
  // continuation non-empty.
  Result<std::vector<double>> continuation_log_probs(
      const std::vector<int32_t>& prompt, const std::vector<std::vector<int32_t>>& continuations);
  // Tokens through llama_decode so far.
  int64_t tokens_evaluated() const { return tokens_evaluated_; }
  // greedy()'s one-token steps so far and the time they took (its prompt pass not included).
  int64_t decode_steps() const { return decode_steps_; }
  double decode_ms() const { return decode_ms_; }

  VocabFacts vocab_facts() const;

 private:
  struct Owned;
  std::unique_ptr<Owned> owned_;  // vocabulary-only loads
  llama_model* model_;
  llama_context* ctx_;
  std::unique_ptr<LlamaChat> chat_;
  // Decodes tokens at positions pos0.. in sequence 0, appending the log-softmax rows of the
  // positions from `from` on (an index into tokens) to *out.
  Result<void> decode_rows(const std::vector<int32_t>& tokens, int pos0, size_t from,
                           std::vector<float>* out);
  int64_t tokens_evaluated_ = 0;
  int64_t decode_steps_ = 0;
  double decode_ms_ = 0;
};

}  // namespace clinbench
