// report: the dashboard of a run directory, or the comparison of two.
#include <fmt/format.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "clinbench/report.h"

namespace clinbench::cli {
namespace {

Command report_command() {
  return {"report",
          "Write the dashboard of a run directory (one self-contained HTML page, works offline) "
          "and static figures in RUN_DIR/figures/; or compare two runs with --compare",
          [](CLI::App* sub) -> std::function<int()> {
            struct Opts {
              std::string run_dir, out;
              std::vector<std::string> compare;
              bool no_figures = false;
              ReportOptions ro;
            };
            auto o = std::make_shared<Opts>();
            sub->add_option("run_dir", o->run_dir, "run directory");
            sub->add_option("-o,--output", o->out,
                            "the page to write (default: RUN_DIR/dashboard.html; with --compare, "
                            "RUN_A/compare.html)");
            sub->add_option("--compare", o->compare,
                            "RUN_A RUN_B: the same models on the same items in two runs, with "
                            "McNemar's exact test and the paired bootstrap")
                ->expected(2);
            sub->add_flag("--no-figures", o->no_figures,
                          "skip the static figures in RUN_DIR/figures/");
            sub->add_option("--node", o->ro.node,
                            "Node.js for the SVG figures (default: node on PATH)");
            sub->add_option("--chromium", o->ro.chromium,
                            "headless browser for the PNG figures (default: chromium on PATH)");
            return [o]() -> int {
              const bool comparing = !o->compare.empty();
              if (comparing == !o->run_dir.empty()) {
                std::fprintf(stderr,
                             "clinbench report: give either RUN_DIR or --compare RUN_A RUN_B\n");
                return kExitUsage;
              }
              o->ro.output = o->out;
              o->ro.figures = !o->no_figures;
              auto outcome = comparing ? write_compare_report(o->compare[0], o->compare[1], o->ro)
                                       : write_report(o->run_dir, o->ro);
              if (!outcome) return report_error(outcome.error());
              if (comparing) {
                std::cout << fmt::format("wrote {}\n", outcome->page.string());
              } else {
                std::cout << fmt::format("wrote {}: {} model(s), {} item(s)\n",
                                         outcome->page.string(), outcome->models, outcome->items);
              }
              for (const auto& f : outcome->files)
                std::cout << fmt::format("wrote {}\n", f.string());
              for (const auto& m : outcome->missing) {
                std::fprintf(stderr, "clinbench report: not written: %s\n", m.c_str());
              }
              return kExitOk;
            };
          }};
}

}  // namespace

std::vector<Command> report_commands() { return {report_command()}; }

}  // namespace clinbench::cli
