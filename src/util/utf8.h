// Repairing text that should be UTF-8 but may not be: model output cut inside a character by a
// token budget, raw bytes of a broken dataset file. nlohmann::json::dump() throws on invalid
// UTF-8, a CSV reader may reject it; every such string passes through here first.
#pragma once

#include <string>
#include <string_view>

namespace clinbench {

// The text with each byte that does not start a well-formed UTF-8 sequence replaced by U+FFFD
// (EF BF BD): a bad lead byte, a lone continuation byte, the lead of a truncated sequence, an
// overlong form, a surrogate (U+D800..U+DFFF) or a code point above U+10FFFF. The bytes after a
// rejected lead are examined again, so a valid character right after a broken one is kept.
// Well-formed text comes back unchanged.
std::string valid_utf8(std::string_view text);
// The same, appended to out.
void append_valid_utf8(std::string& out, std::string_view text);

}  // namespace clinbench
