#include "model/llama_chat.h"

#include <fmt/format.h>

#include <algorithm>

namespace clinbench {

std::vector<llama_token> tokenize_text(const llama_vocab* vocab, std::string_view text,
                                       bool add_special, bool parse_special) {
  const int n = -llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), nullptr, 0,
                                add_special, parse_special);
  std::vector<llama_token> out(static_cast<size_t>(std::max(n, 0)));
  if (n > 0) {
    llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), out.data(), n,
                   add_special, parse_special);
  }
  return out;
}

std::string detokenize_text(const llama_vocab* vocab, const std::vector<llama_token>& tokens,
                            bool remove_special, bool unparse_special) {
  std::string out(tokens.size() * 8 + 16, '\0');
  int n = llama_detokenize(vocab, tokens.data(), static_cast<int32_t>(tokens.size()), out.data(),
                           static_cast<int32_t>(out.size()), remove_special, unparse_special);
  if (n < 0) {  // too small: -n is the size needed
    out.resize(static_cast<size_t>(-n));
    n = llama_detokenize(vocab, tokens.data(), static_cast<int32_t>(tokens.size()), out.data(),
                         static_cast<int32_t>(out.size()), remove_special, unparse_special);
  }
  out.resize(static_cast<size_t>(std::max(n, 0)));
  return out;
}

std::string token_piece(const llama_vocab* vocab, llama_token token, bool special) {
  char buf[256];
  const int n = llama_token_to_piece(vocab, token, buf, sizeof(buf), 0, special);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

LlamaChat::LlamaChat(const llama_model* model, const std::string& template_override)
    : vocab_(llama_model_get_vocab(model)) {
  const char* tmpl = llama_model_chat_template(model, nullptr);
  has_template_ = !template_override.empty() || (tmpl != nullptr && tmpl[0] != '\0');
  try {
    templates_ = common_chat_templates_init(model, !template_override.empty() ? template_override
                                                   : has_template_            ? ""
                                                                              : "chatml");
  } catch (const std::exception& e) {
    template_error_ = e.what();
    templates_ = common_chat_templates_init(model, "chatml");
  }
  const llama_token bos = llama_vocab_bos(vocab_);
  if (bos >= 0) bos_text_ = piece(bos, true);
}

Result<common_chat_params> LlamaChat::apply(const std::vector<ChatMessage>& messages,
                                            Thinking thinking) const {
  try {
    common_chat_templates_inputs in;
    for (const auto& m : messages) {
      common_chat_msg cm;
      cm.role = m.role;
      cm.content = m.content;
      cm.reasoning_content = m.reasoning;
      in.messages.push_back(cm);
    }
    in.add_generation_prompt = true;
    in.use_jinja = true;
    in.reasoning_format = COMMON_REASONING_FORMAT_DEEPSEEK;
    in.enable_thinking = thinking != Thinking::kOff;
    // Granite's templates switch on a `thinking` variable of their own.
    if (thinking != Thinking::kAuto) {
      in.chat_template_kwargs["thinking"] = thinking == Thinking::kOn ? "true" : "false";
    }
    return common_chat_templates_apply(templates_.get(), in);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal,
                      fmt::format("chat template failed to render: {}", e.what()));
  }
}

Result<std::string> LlamaChat::render(const std::vector<ChatMessage>& messages) const {
  auto params = apply(messages, Thinking::kAuto);
  if (!params) return std::unexpected(params.error());
  return std::move(params->prompt);
}

Result<ChatPrompt> LlamaChat::render_for_reply(const std::vector<ChatMessage>& messages,
                                               Thinking thinking) const {
  auto params = apply(messages, thinking);
  if (!params) return std::unexpected(params.error());
  ChatPrompt out;
  out.text = std::move(params->prompt);
  ReplyFormat& r = out.reply;
  r.thinking_start = params->thinking_start_tag;
  r.thinking_end = params->thinking_end_tags;
  r.thinks = params->supports_thinking && thinking != Thinking::kOff && !r.thinking_start.empty() &&
             !r.thinking_end.empty();
  if (r.plain()) return out;  // read as plain text: no parser needed
  try {
    r.parser = common_chat_parser_params(*params);
    r.parser.reasoning_format = COMMON_REASONING_FORMAT_DEEPSEEK;
    r.parser.parse_tool_calls = false;
    if (!params->parser.empty()) r.parser.parser.load(params->parser);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal,
                      fmt::format("chat template's reply parser failed to load: {}", e.what()));
  }
  return out;
}

bool LlamaChat::has_thinking_switch() const {
  return common_chat_templates_support_enable_thinking(templates_.get());
}

std::vector<llama_token> LlamaChat::tokenize(const std::string& text, bool add_special,
                                             bool parse_special) const {
  return tokenize_text(vocab_, text, add_special, parse_special);
}

std::vector<llama_token> LlamaChat::tokenize_prompt(const std::string& text) const {
  const bool template_has_bos = !bos_text_.empty() && text.rfind(bos_text_, 0) == 0;
  return tokenize(text, !template_has_bos, true);
}

std::string LlamaChat::piece(llama_token t, bool special) const {
  return token_piece(vocab_, t, special);
}

}  // namespace clinbench
