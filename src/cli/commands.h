// The subcommand table: each command registers its flags and a handler that calls the library.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "clinbench/error.h"

namespace clinbench::cli {

// Process exit codes.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,    // the command ran and its outcome is negative (no strategy loaded, ...)
  kExitUsage = 2,     // bad flags or values
  kExitInput = 3,     // a bad input file (missing, corrupt, unsupported)
  kExitInternal = 4,  // a bug: an exception escaped the library
};

struct Command {
  const char* name;
  const char* description;
  // Adds the subcommand's options; returns the handler to run when it is chosen.
  std::function<std::function<int()>(CLI::App*)> setup;
};

std::vector<Command> model_commands();       // inspect, load, synth (cmd_model.cpp)
std::vector<Command> dataset_commands();     // dataset check (cmd_dataset.cpp)
std::vector<Command> run_commands();         // run (cmd_run.cpp)
std::vector<Command> merge_commands();       // merge (cmd_merge.cpp)
std::vector<Command> provenance_commands();  // package, verify (cmd_package.cpp)
std::vector<Command> report_commands();      // report (cmd_report.cpp)
std::vector<Command> fidelity_commands();    // fidelity (cmd_fidelity.cpp)

// Prints "clinbench: <message>" to stderr and returns the exit code for that error.
int report_error(const Error& error);

// --rpc HOST:PORT[,...] (clinbench/rpc.h), for the commands that load or plan a model.
void add_rpc_option(CLI::App* sub, std::string* servers);
// Checks the servers and sets them for this process and its children: std::nullopt when fine
// (or the flag is absent), else the exit code after printing the error.
std::optional<int> apply_rpc_option(const std::string& servers);

}  // namespace clinbench::cli
