// One-time llama.cpp backend initialisation for this process.
#pragma once

namespace clinbench {

// Initialises llama.cpp's backends once (thread-safe) and installs clinbench's log routing.
void ensure_llama_backend();

}  // namespace clinbench
