// merge: shard run directories into one run directory.
#include <fmt/format.h>

#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "clinbench/merge.h"

namespace clinbench::cli {

namespace {

Command merge_command() {
  return {
      "merge", "Merge the run directories of a run's shards (--shard I/N) into one",
      [](CLI::App* sub) -> std::function<int()> {
        struct Opts {
          std::string out;
          std::vector<std::string> runs;
        };
        auto o = std::make_shared<Opts>();
        sub->add_option("OUT_DIR", o->out, "the merged run directory (new or empty)")->required();
        sub->add_option("RUN_DIR", o->runs, "shard run directories")->required();
        return [o]() -> int {
          std::vector<std::filesystem::path> dirs(o->runs.begin(), o->runs.end());
          auto r = merge_runs(o->out, dirs);
          if (!r) return report_error(r.error());
          for (const auto& w : r->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
          std::cout << r->summary;
          std::cout << fmt::format("merged {} run directories into {}: {} item(s)\n", dirs.size(),
                                   o->out, r->items);
          if (r->complete()) return kExitOk;
          for (const auto& s : r->missing_shards) {
            std::fprintf(stderr, "gap: shard %s was not given\n", s.c_str());
          }
          for (const auto& g : r->gaps) {
            std::string ids;
            for (size_t i = 0; i < g.item_ids.size() && i < 10; ++i) {
              ids += (i ? ", " : "") + g.item_ids[i];
            }
            if (g.item_ids.size() > 10) ids += ", ...";
            std::fprintf(stderr, "gap: model %s, dataset %s: %zu item(s) missing: %s\n",
                         g.model.c_str(), g.dataset.c_str(), g.item_ids.size(), ids.c_str());
          }
          std::fprintf(stderr,
                       "clinbench: the merged run is incomplete (gaps above; listed in "
                       "results.json metadata.merge)\n");
          return kExitFailed;
        };
      }};
}

}  // namespace

std::vector<Command> merge_commands() { return {merge_command()}; }

}  // namespace clinbench::cli
