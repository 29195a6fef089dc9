// clinbench command line: parses flags and dispatches through the subcommand table.
#include <cstdio>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "clinbench/worker.h"

int main(int argc, char** argv) {
  if (auto rc = clinbench::run_child_command(argc, argv)) return *rc;

  CLI::App app{
      "clinbench: evaluate large language models on clinical question sets, on the hardware "
      "you have (llama.cpp inside)."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("clinbench ") + CLINBENCH_VERSION);
  std::function<int()> handler;
  std::vector<clinbench::cli::Command> commands;
  for (auto* group : {clinbench::cli::model_commands, clinbench::cli::dataset_commands,
                      clinbench::cli::run_commands, clinbench::cli::merge_commands,
                      clinbench::cli::provenance_commands, clinbench::cli::report_commands,
                      clinbench::cli::fidelity_commands}) {
    for (auto& c : group()) commands.push_back(std::move(c));
  }
  for (auto& c : commands) {
    CLI::App* sub = app.add_subcommand(c.name, c.description);
    auto h = c.setup(sub);
    sub->callback([&handler, h] { handler = h; });
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : clinbench::cli::kExitUsage;
  }
  if (!handler) return clinbench::cli::kExitUsage;
  // Errors are values; an exception that still escapes (a library's, an allocation's) is a bug,
  // reported as one line with its own exit code rather than std::terminate's abort.
  try {
    return handler();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "clinbench: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "clinbench: internal error: an unknown exception\n");
  }
  return clinbench::cli::kExitInternal;
}
