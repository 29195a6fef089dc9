// Byte sizes as users write them ("12GB", "512MiB", "1.5G", "4096") and as clinbench prints them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "clinbench/error.h"

namespace clinbench {

// Parses a size. Units: B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB, case-insensitive; K, M, G and
// T without "i" are powers of 1024 too, as memory sizes are read by most users. A bare number is
// bytes. Errors name the text and say what was expected.
Result<uint64_t> parse_size(std::string_view text);

// "1.50 GiB", "512.0 MiB", "932 B".
std::string format_bytes(uint64_t bytes);

}  // namespace clinbench
