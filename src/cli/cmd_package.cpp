// package, verify (placeholder until they are wired).
#include "cli/commands.h"

namespace clinbench::cli {

std::vector<Command> provenance_commands() { return {}; }

}  // namespace clinbench::cli
