// Text helpers shared by the answer extractor's files (extract*.cpp): byte classes, folding of
// full-width forms, normalization, and the region of a reply that can hold its answer. Every
// function is a linear scan: replies can be megabytes of degenerate output.
#pragma once

#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>

namespace clinbench::extract_detail {

// ASCII classes only: bytes of multi-byte UTF-8 characters are none of these, so a letter next
// to a CJK character ("答案是C") still stands alone.
inline bool is_alnum(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x80 && std::isalnum(u) != 0;
}
inline bool is_alpha(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x80 && std::isalpha(u) != 0;
}
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
inline bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
inline bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
inline char to_upper(char c) { return is_lower(c) ? static_cast<char>(c - 'a' + 'A') : c; }
inline char to_lower(char c) { return is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c; }
// Markdown and quoting around an answer: **B**, `B`, "B", $B$.
inline bool is_decoration(char c) {
  return c == '*' || c == '_' || c == '`' || c == '"' || c == '\'' || c == '$';
}
// Ends a sentence or a clause for the negation, hedge and hypothetical checks.
inline bool is_clause_end(char c) {
  return c == '.' || c == ';' || c == '!' || c == '?' || c == '\n';
}

// ASCII lower case; other bytes unchanged (same length, same positions).
std::string lower(std::string_view text);

// Full-width ASCII (U+FF01-U+FF5E: "Ａ", "：", "（"), the ideographic space and CJK punctuation
// ("。", "、", "【】", "「」"), curly quotes and the no-break space, as their ASCII forms.
std::string fold_width(std::string_view text);

// Lower-case, markdown removed, runs of space collapsed, punctuation at both ends dropped.
std::string normalize(std::string_view text);

// The part of a reply that can hold its answer. `in_reasoning` when the reply ends inside its
// reasoning: an unclosed <think>, or a gpt-oss analysis channel with no final channel.
struct AnswerRegion {
  std::string_view text;
  bool in_reasoning = false;
};
AnswerRegion answer_region(std::string_view reply);

}  // namespace clinbench::extract_detail
