// package, verify: thin handlers over the provenance library.
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "clinbench/package.h"
#include "clinbench/provenance.h"
#include "clinbench/store.h"

namespace clinbench::cli {
namespace {

Command package_command() {
  return {"package",
          "Write the CURE-Bench submission zip (submission.csv, meta_data.json) of one model",
          [](CLI::App* sub) -> std::function<int()> {
            struct Opts {
              std::string run_dir, model, out;
              PackageOptions po;
            };
            auto o = std::make_shared<Opts>();
            sub->add_option("run_dir", o->run_dir, "run directory")->required();
            sub->add_option("--model", o->model, "the model's name in the run")->required();
            sub->add_option("-o,--output", o->out, "the zip to write")->required();
            sub->add_option("--dataset", o->po.dataset,
                            "dataset to package (needed when the model ran on several)");
            sub->add_option("--model-type", o->po.model_type, "meta_data.json model_type")
                ->capture_default_str();
            sub->add_option("--base-model", o->po.base_model_name,
                            "meta_data.json base_model_name (default: the model's name)");
            sub->add_option("--info", o->po.additional_info,
                            "meta_data.json additional_info (default: clinbench and llama.cpp "
                            "commits, strategy, scoring)");
            sub->add_flag("--partial", o->po.partial,
                          "package a run that misses items of the dataset (or whose coverage "
                          "cannot be checked); additional_info says PARTIAL and how many");
            sub->add_flag("--allow-unofficial", o->po.allow_unofficial,
                          "package a run that departs from the track's protocol (scoring = "
                          "loglik); additional_info says UNOFFICIAL and how");
            return [o]() -> int {
              // RunStore::open creates a missing run.db; packaging must not.
              std::error_code ec;
              if (!std::filesystem::exists(RunPaths::db(o->run_dir), ec)) {
                std::fprintf(stderr, "clinbench: %s: no run.db: not a run directory\n",
                             o->run_dir.c_str());
                return kExitInput;
              }
              auto store = RunStore::open(o->run_dir);
              if (!store) return report_error(store.error());
              auto s = write_submission(*store, o->model, o->po, o->out);
              if (!s) return report_error(s.error());
              for (const auto& w : s->warnings) {
                std::fprintf(stderr, "clinbench: warning: %s\n", w.c_str());
              }
              const std::string guarded =
                  s->guarded ? fmt::format(
                                   ", {} field(s) that pandas reads as missing written "
                                   "with a trailing space",
                                   s->guarded)
                             : "";
              std::cout << fmt::format(
                  "wrote {}: {} items of {} by {}, {} without prediction, {} NOTAVALUE{}, "
                  "{:.1f} tokens per question\n",
                  s->zip_path.string(), s->items, s->dataset, s->model_name, s->no_prediction,
                  s->notavalue, guarded, s->average_tokens_per_question);
              return kExitOk;
            };
          }};
}

Command verify_command() {
  return {"verify",
          "Re-hash every input and export listed in RUN_DIR/manifest.json and report drift "
          "(exit 0: none, 1: drift, 3: unreadable manifest)",
          [](CLI::App* sub) -> std::function<int()> {
            struct Opts {
              std::string run_dir;
              bool json = false;
            };
            auto o = std::make_shared<Opts>();
            sub->add_option("run_dir", o->run_dir, "run directory")->required();
            sub->add_flag("--json", o->json, "print the report as JSON");
            return [o]() -> int {
              auto report = verify_run(o->run_dir);
              if (!report) {
                std::fprintf(stderr, "clinbench: %s\n", report.error().message.c_str());
                return kExitInput;
              }
              if (o->json) {
                std::cout << to_json(*report).dump(2, ' ', false,
                                                   nlohmann::json::error_handler_t::replace)
                          << "\n";
              } else {
                std::cout << format_verify_report(*report);
              }
              return report->drifted() ? kExitFailed : kExitOk;
            };
          }};
}

}  // namespace

std::vector<Command> provenance_commands() { return {package_command(), verify_command()}; }

}  // namespace clinbench::cli
