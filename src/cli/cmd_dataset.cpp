// dataset check: a thin handler over check_dataset (include/clinbench/dataset.h).
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "clinbench/dataset.h"

namespace clinbench::cli {

namespace {

struct CheckOptions {
  std::string file;
  std::string format = "auto";
  std::string split;
  bool strict = false;
  bool json = false;
};

int run_check(const CheckOptions& o) {
  ReadOptions ro;
  auto format = dataset_format_from_string(o.format);
  if (!format) {
    std::fprintf(stderr,
                 "clinbench: --format: unknown format '%s' (expected auto, curebench, medqa, "
                 "medmcqa, mmlu or pubmedqa)\n",
                 o.format.c_str());
    return kExitUsage;
  }
  ro.format = *format;
  ro.split = o.split;
  const DatasetCheck check = check_dataset(o.file, ro);
  if (o.json) {
    std::cout << to_json(check).dump(2) << "\n";
  } else if (!check.error) {
    std::cout << to_text(check);
  }
  if (check.error) {
    // The message names the file and what was wrong; with --json it is in the report too.
    if (!o.json) std::fprintf(stderr, "clinbench: %s\n", check.error->message.c_str());
    return check.error->code == ErrorCode::kInvalidArgument ? kExitUsage : kExitInput;
  }
  if (o.strict && !check.issues.empty()) {
    if (!o.json) {
      std::fprintf(stderr, "clinbench: %s: %zu invalid row(s) (--strict)\n", check.path.c_str(),
                   check.issues.size());
    }
    return kExitInput;
  }
  return kExitOk;
}

Command dataset_command() {
  return {"dataset", "Inspect dataset files (check)", [](CLI::App* sub) -> std::function<int()> {
            sub->require_subcommand(1);
            auto o = std::make_shared<CheckOptions>();
            CLI::App* check = sub->add_subcommand(
                "check",
                "Read a dataset and report items per question type and split, labeled or not, "
                "duplicate ids and invalid rows (path:line: reason). Exit 0 when the file is "
                "readable, 3 when it is not (or, with --strict, when a row is invalid)");
            check->add_option("file", o->file, "dataset file or directory")->required();
            check
                ->add_option("--format", o->format,
                             "auto | curebench | medqa | medmcqa | mmlu | pubmedqa")
                ->capture_default_str();
            check->add_option("--split", o->split,
                              "split of every item (default: from the file or directory name)");
            check->add_flag("--strict", o->strict, "exit 3 when any row is invalid");
            check->add_flag("--json", o->json, "print the report as JSON");
            return [o]() -> int { return run_check(*o); };
          }};
}

}  // namespace

std::vector<Command> dataset_commands() { return {dataset_command()}; }

}  // namespace clinbench::cli
