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
          "and static figures in RUN_DIR/figures/; or compare two runs, or two models of one run, "
          "with --compare",
          [](CLI::App* sub) -> std::function<int()> {
            struct Opts {
              std::string run_dir, out;
              std::vector<std::string> compare;
              std::vector<std::string> pairs;
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
                            "McNemar's exact test and the paired bootstrap; RUN alone (with "
                            "--pair): two models of one run")
                ->expected(1, 2);
            sub->add_option("--pair", o->pairs,
                            "A_MODEL=B_MODEL: compare this model of run A with this model of run "
                            "B (a base and its adapter entry), instead of pairing by name; "
                            "repeatable");
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
              if (!o->pairs.empty() && !comparing) {
                std::fprintf(stderr, "clinbench report: --pair needs --compare\n");
                return kExitUsage;
              }
              for (const auto& text : o->pairs) {
                auto p = parse_model_pair(text);
                if (!p) return report_error(p.error());
                o->ro.pairs.push_back(std::move(*p));
              }
              o->ro.output = o->out;
              o->ro.figures = !o->no_figures;
              // One directory: two of its models, compared with each other (--pair).
              const std::string run_b = comparing ? o->compare.back() : "";
              auto outcome = comparing ? write_compare_report(o->compare.front(), run_b, o->ro)
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
