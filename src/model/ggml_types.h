// ggml type names as GGUF files and recipes write them ("f16", "q8_0", "q4_K").
#pragma once

#include <ggml.h>

#include <optional>
#include <string>

namespace clinbench {

// The block type of that name; nullopt for an unknown or removed type.
std::optional<ggml_type> type_from_name(const std::string& name);

}  // namespace clinbench
