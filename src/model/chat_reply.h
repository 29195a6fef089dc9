// How a thinking model's reply reads: its reasoning and its final answer apart, with llama.cpp's
// own chat parser for the template (common_chat_parse), as llama-server does.
#pragma once

#include <chat.h>

#include <cstddef>
#include <string>
#include <vector>

namespace clinbench {

// How a reply to a rendered prompt reads: llama.cpp's parser for the template's format (reasoning
// extracted apart, as llama-server's reasoning_format "deepseek" does) and its thinking tags.
struct ReplyFormat {
  common_chat_parser_params parser;
  std::string thinking_start;             // "<think>", "<|channel|>analysis<|message|>", ...
  std::vector<std::string> thinking_end;  // "</think>", "<|end|>", ...
  bool thinks = false;  // the template thinks for this prompt (thinking not switched off)
  // Whether replies need the parser at all: a template with no thinking and no structured
  // output reads as the plain text of the reply, special tokens dropped (as before parsing).
  bool plain() const;
};

// A reply split as the template's parser reads it.
struct ParsedReply {
  std::string content;    // the final answer
  std::string reasoning;  // the thinking section, tags removed
  bool opened = false;    // a thinking section was opened (by the prompt or the reply)
  bool closed = true;     // ... and closed by one of its end tags
  // Bytes of the raw reply that belong to the thinking section (its end tag included): [begin,
  // end); {0, 0} when none.
  size_t begin = 0, end = 0;
};

// Splits a raw reply (special tokens written as text) into answer and reasoning. An unclosed
// thinking section is all reasoning and no content; a reply the template's parser rejects is
// split at the thinking tags. Never throws.
ParsedReply parse_reply(const ReplyFormat& format, const std::string& raw);

}  // namespace clinbench
