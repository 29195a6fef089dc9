// The model's own chat template and tokenizer: how a conversation becomes prompt tokens, and
// tokens become text. The one implementation: the evaluation backend, the fidelity probe and the
// warm-up validation all go through here, so they see exactly the same prompts and tokens.
#pragma once

#include <chat.h>
#include <llama.h>

#include <string>
#include <string_view>
#include <vector>

#include "clinbench/backend.h"
#include "model/chat_reply.h"

namespace clinbench {

// The vocabulary's tokens for text. add_special: BOS (and EOS) as the vocabulary asks;
// parse_special: special-token text ("<|eot_id|>") becomes that token, not its characters.
std::vector<llama_token> tokenize_text(const llama_vocab* vocab, std::string_view text,
                                       bool add_special, bool parse_special);
// The text of tokens. remove_special: drop BOS/EOS the vocabulary adds; unparse_special: write
// special tokens as their text instead of dropping them.
std::string detokenize_text(const llama_vocab* vocab, const std::vector<llama_token>& tokens,
                            bool remove_special, bool unparse_special);
// The text of one token; special tokens (control tokens such as BOS) are "" unless special.
std::string token_piece(const llama_vocab* vocab, llama_token token, bool special);

struct ChatPrompt {
  std::string text;  // the rendered conversation, generation prompt added
  ReplyFormat reply;
};

// REQUIRES: the model outlives the LlamaChat.
class LlamaChat {
 public:
  // The model's template (or `template_override` when given), or chatml when there is none or
  // it does not parse.
  explicit LlamaChat(const llama_model* model, const std::string& template_override = "");

  // Whether the model carries a chat template (tokenizer.chat_template).
  bool has_template() const { return has_template_; }
  // Why the model's template could not be used, "" when it could: chatml renders instead.
  const std::string& template_error() const { return template_error_; }

  // The conversation rendered with the template, generation prompt added.
  Result<std::string> render(const std::vector<ChatMessage>& messages) const;
  // The same, with the thinking switch and how the reply will read.
  Result<ChatPrompt> render_for_reply(const std::vector<ChatMessage>& messages,
                                      Thinking thinking) const;
  // Whether the template renders differently with thinking on and off (Qwen3's enable_thinking).
  bool has_thinking_switch() const;
  std::vector<llama_token> tokenize(const std::string& text, bool add_special,
                                    bool parse_special) const;
  // A rendered prompt: special tokens parsed; BOS added unless the template wrote it.
  std::vector<llama_token> tokenize_prompt(const std::string& text) const;
  std::string piece(llama_token t, bool special) const;
  const llama_vocab* vocab() const { return vocab_; }

 private:
  // The template applied (generation prompt added, reasoning extracted as "deepseek").
  Result<common_chat_params> apply(const std::vector<ChatMessage>& messages,
                                   Thinking thinking) const;

  const llama_vocab* vocab_;
  bool has_template_ = false;
  std::string template_error_;
  common_chat_templates_ptr templates_;
  std::string bos_text_;
};

}  // namespace clinbench
