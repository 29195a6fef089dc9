// Writing a whole file so that readers see either the old content or the complete new one.
#pragma once

#include <filesystem>
#include <string_view>

#include "clinbench/error.h"

namespace clinbench {

// Writes content to a temporary file beside target ("<target>.tmp.<pid>"), syncs it, renames it
// over target and syncs the directory: after a crash or power loss target holds the old content
// or the new, never a mix. On failure target is untouched and the temporary file is removed; the
// error (kIo) names target and what failed ("out/x.svg: cannot write: No space left on device").
// REQUIRES: target's directory exists; one writer per target in a process at a time.
Result<void> write_file_atomically(const std::filesystem::path& target, std::string_view content);

}  // namespace clinbench
