// Text helpers of the answer extractor (extract_text.h).
#include "eval/extract_text.h"

#include <cstdint>

namespace clinbench::extract_detail {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = to_lower(c);
  return out;
}

namespace {

// The ASCII stand-in for the 3-byte UTF-8 character `cp`, or 0 when it has none.
char ascii_for(std::uint32_t cp) {
  if (cp >= 0xFF01 && cp <= 0xFF5E) return static_cast<char>(cp - 0xFEE0);
  switch (cp) {
    case 0x3000:  // ideographic space
      return ' ';
    case 0x3001:  // 、
      return ',';
    case 0x3002:  // 。
      return '.';
    case 0x3010:  // 【
    case 0x3014:  // 〔
      return '[';
    case 0x3011:  // 】
    case 0x3015:  // 〕
      return ']';
    case 0x300C:  // 「
    case 0x300D:  // 」
    case 0x201C:  // “
    case 0x201D:  // ”
      return '"';
    case 0x2018:  // ‘
    case 0x2019:  // ’
      return '\'';
    default:
      return 0;
  }
}

}  // namespace

std::string fold_width(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    if (b0 == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0xA0) {
      out.push_back(' ');  // no-break space
      ++i;
      continue;
    }
    if ((b0 & 0xF0) == 0xE0 && i + 2 < text.size()) {
      const auto b1 = static_cast<unsigned char>(text[i + 1]);
      const auto b2 = static_cast<unsigned char>(text[i + 2]);
      if ((b1 & 0xC0) == 0x80 && (b2 & 0xC0) == 0x80) {
        const std::uint32_t cp = ((b0 & 0x0Fu) << 12) | ((b1 & 0x3Fu) << 6) | (b2 & 0x3Fu);
        if (char c = ascii_for(cp); c != 0) {
          out.push_back(c);
          i += 2;
          continue;
        }
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

std::string normalize(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '*' || c == '_' || c == '`') continue;
    if (is_space(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(to_lower(c));
  }
  auto punct = [](char c) {
    return c == '.' || c == ',' || c == ';' || c == ':' || c == '!' || c == '?' || c == '"' ||
           c == '\'' || c == '(' || c == ')';
  };
  while (!out.empty() && punct(out.back())) out.pop_back();
  std::size_t begin = 0;
  while (begin < out.size() && punct(out[begin])) ++begin;
  out.erase(0, begin);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

namespace {

// gpt-oss (harmony format). With its special tokens kept, the final channel follows
// "<|channel|>final" (then maybe "<|constrain|>..." and "<|message|>"); with them dropped by the
// detokenizer, the reply reads "analysisWe need to...assistantfinalAnswer: B".
AnswerRegion harmony_region(std::string_view reply, const std::string& low) {
  if (std::size_t final = low.rfind("<|channel|>final"); final != std::string::npos) {
    std::size_t begin = final + 16;
    const std::size_t message = low.find("<|message|>", begin);
    if (message != std::string::npos && message - begin < 64) begin = message + 11;
    const bool analysis_after = low.find("<|channel|>analysis", begin) != std::string::npos;
    return {reply.substr(begin), analysis_after};
  }
  if (low.find("<|channel|>analysis") != std::string::npos) return {reply, true};
  if (std::size_t final = low.rfind("assistantfinal"); final != std::string::npos) {
    return {reply.substr(final + 14), false};
  }
  // "analysis" glued to its message ("analysisWe need") opens a reply whose final channel never
  // came; "Analysis: ..." in prose does not.
  std::size_t start = 0;
  while (start < reply.size() && is_space(reply[start])) ++start;
  std::string_view head = reply.substr(start);
  if (head.starts_with("assistant")) head.remove_prefix(9);
  if (head.starts_with("analysis") && head.size() > 8 && !is_space(head[8]) && head[8] != ':' &&
      head[8] != ',' && head[8] != '.' && head[8] != '-' && !is_lower(head[8])) {
    return {reply, true};
  }
  return {reply, false};
}

}  // namespace

AnswerRegion answer_region(std::string_view reply) {
  const std::string low = lower(reply);
  AnswerRegion region = harmony_region(reply, low);
  if (region.in_reasoning) return region;
  const std::size_t offset = region.text.data() - reply.data();
  const std::size_t open = low.rfind("<think>");
  const std::size_t close = low.rfind("</think>");
  // Reasoning opened and never closed: whatever it says is not an answer yet.
  if (open != std::string::npos && open >= offset && (close == std::string::npos || close < open)) {
    return {region.text, true};
  }
  if (close != std::string::npos && close >= offset) {
    region.text = reply.substr(close + 8);
  }
  return region;
}

}  // namespace clinbench::extract_detail
