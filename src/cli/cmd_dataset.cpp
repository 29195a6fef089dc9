// dataset check (placeholder until it is wired).
#include "cli/commands.h"

namespace clinbench::cli {

std::vector<Command> dataset_commands() { return {}; }

}  // namespace clinbench::cli
