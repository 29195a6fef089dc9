// SHA-256 of files and strings, streamed (constant memory), as lowercase hex.
#pragma once

#include <string>
#include <string_view>

#include "clinbench/error.h"

namespace clinbench {

Result<std::string> sha256_file(const std::string& path);
std::string sha256_string(std::string_view data);

}  // namespace clinbench
