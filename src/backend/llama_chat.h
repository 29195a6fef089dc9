// The model's own chat template and tokenizer: how a conversation becomes prompt tokens. Shared
// by the evaluation backend and the fidelity probe, so both see exactly the same tokens.
#pragma once

#include <chat.h>
#include <llama.h>

#include <string>
#include <vector>

#include "clinbench/backend.h"

namespace clinbench {

class LlamaChat {
 public:
  // The model's template, or chatml when it has none or its template does not parse.
  explicit LlamaChat(const llama_model* model);

  // The conversation rendered with the template, generation prompt added.
  Result<std::string> render(const std::vector<ChatMessage>& messages) const;
  std::vector<llama_token> tokenize(const std::string& text, bool add_special,
                                    bool parse_special) const;
  // A rendered prompt: special tokens parsed; BOS added unless the template wrote it.
  std::vector<llama_token> tokenize_prompt(const std::string& text) const;
  std::string piece(llama_token t, bool special) const;
  const llama_vocab* vocab() const { return vocab_; }

 private:
  const llama_vocab* vocab_;
  common_chat_templates_ptr templates_;
  std::string bos_text_;
};

}  // namespace clinbench
