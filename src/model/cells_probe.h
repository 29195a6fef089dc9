// How many KV cells a run's conversations need in a model: their prompts rendered with the
// model's own template and tokenized with its vocabulary (loaded alone), plus each turn's reply
// budget (and reasoning budget, when the template thinks).
#pragma once

#include <cstdint>
#include <string>

#include "clinbench/error.h"
#include "clinbench/plan.h"

namespace clinbench {

// The cells the neediest of probe.conversations needs in the model at `path`. Errors: the
// vocabulary does not load; a conversation does not render.
Result<uint32_t> cells_needed(const std::string& path, const CellsProbe& probe);

}  // namespace clinbench
