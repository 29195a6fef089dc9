#include "model/chat_reply.h"

#include <exception>

namespace clinbench {

namespace {

// Where the thinking section the reply ends in lies: the last start tag (in the generation
// prompt, which counts as position 0 of the reply, or in the reply) and the first end tag after
// it. Positions are in the reply.
ParsedReply locate_thinking(const ReplyFormat& f, const std::string& raw) {
  ParsedReply p;
  if (f.thinking_start.empty() || f.thinking_end.empty()) return p;
  const std::string& gen = f.parser.generation_prompt;
  size_t body = std::string::npos;  // where the reasoning text starts in the reply
  if (size_t at = raw.rfind(f.thinking_start); at != std::string::npos) {
    p.begin = at;
    body = at + f.thinking_start.size();
  } else if (f.thinks && gen.find(f.thinking_start) != std::string::npos) {
    // Opened by the prompt (DeepSeek-R1's "<think>\n"), unless the prompt closed it too (Qwen3
    // with thinking off writes an empty "<think>\n\n</think>").
    const size_t open = gen.rfind(f.thinking_start);
    bool closed_in_prompt = false;
    for (const auto& e : f.thinking_end) {
      closed_in_prompt = closed_in_prompt || gen.find(e, open) != std::string::npos;
    }
    if (closed_in_prompt) return p;
    p.begin = 0;
    body = 0;
  } else {
    return p;
  }
  p.opened = true;
  size_t close = std::string::npos, close_len = 0;
  for (const auto& e : f.thinking_end) {
    const size_t at = raw.find(e, body);
    if (at != std::string::npos && at < close) {
      close = at;
      close_len = e.size();
    }
  }
  p.closed = close != std::string::npos;
  p.end = p.closed ? close + close_len : raw.size();
  p.reasoning = raw.substr(body, (p.closed ? close : raw.size()) - body);
  return p;
}

std::string trimmed(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") + 1 - b);
}

ParsedReply split_reply(const ReplyFormat& f, const std::string& raw) {
  ParsedReply p = locate_thinking(f, raw);
  if (p.opened && !p.closed) return p;  // cut while thinking: no answer yet
  try {
    common_chat_msg msg = common_chat_parse(raw, false, f.parser);
    if (!p.opened || !msg.reasoning_content.empty()) {
      if (p.opened) p.reasoning = msg.reasoning_content;
      p.content = msg.content;
      return p;
    }
    // The parser did not take the section apart (a format without reasoning): the tags do.
  } catch (const std::exception&) {
    // Not the template's format (a model that wrote past its own grammar): split at the tags.
  }
  p.content = p.opened ? raw.substr(p.end) : raw;
  return p;
}

}  // namespace

bool ReplyFormat::plain() const { return thinking_start.empty(); }

ParsedReply parse_reply(const ReplyFormat& f, const std::string& raw) {
  ParsedReply p = split_reply(f, raw);
  p.content = trimmed(p.content);
  p.reasoning = trimmed(p.reasoning);
  return p;
}

}  // namespace clinbench
