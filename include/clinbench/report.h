// Reports: the dashboard of a run directory as one self-contained HTML page (docs/report.md).
//
// The page's numbers are computed here, in C++, by the same code that writes results.json
// (compute_results, include/clinbench/results.h) and the statistics layer (stats.h); the page
// embeds them as one JSON document ("clinbench.report/1") and only draws them, with Vega-Lite
// inlined from the binary, so the page makes no network request. Static SVG copies of each
// figure are rendered by Node.js running the same embedded Vega, and PNG copies by a headless
// Chromium screenshot of each SVG; either can be missing on a machine, which the outcome says
// without failing the page.
//
// Every string from a model or a dataset reaches the page as JSON data inside a
// <script type="application/json"> element (with '<', '>' and '&' escaped as \u003c, \u003e,
// \u0026) and is put into the page as text, never as markup.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "clinbench/error.h"

namespace clinbench {

// A model of run A compared with a model of run B (`report --compare ... --pair A_MODEL=B_MODEL`):
// a base and its fine-tune (an adapter entry), in two runs or in one.
struct ModelPair {
  std::string a;
  std::string b;
};

// Parses "A_MODEL=B_MODEL" (split at the first '='). Errors (kInvalidArgument, naming --pair and
// the value): no '=', an empty name on either side.
Result<ModelPair> parse_model_pair(const std::string& text);

struct ReportOptions {
  // The page to write; empty: RUN_DIR/dashboard.html (compare: RUN_A/compare.html).
  std::filesystem::path output;
  // Write RUN_DIR/figures/ (SVG, and PNG where Chromium is found). Not used by compare.
  bool figures = true;
  // Programs for the static figures; empty: searched on PATH (node; chromium, chromium-browser,
  // google-chrome), or taken from $CLINBENCH_NODE / $CLINBENCH_CHROMIUM when set.
  std::string node;
  std::string chromium;
  // Compare only: the models to pair; empty: by name (see compare_data).
  std::vector<ModelPair> pairs;
};

struct ReportOutcome {
  std::filesystem::path page;                // the HTML written
  std::vector<std::filesystem::path> files;  // figures written
  // What could not be produced and why ("figures/figure1.png: no chromium on PATH ..."); the
  // page is written regardless.
  std::vector<std::string> missing;
  std::size_t items = 0;
  std::size_t models = 0;
};

// The report's data document of a run directory, read from its run.db: results, models with
// their attempt logs, metadata, items, and every panel with its Vega-Lite spec and data
// (docs/report.md). Errors: no run.db (kNotFound), a run directory locked by a running process
// (kResource), an unreadable database.
Result<nlohmann::json> report_data(const std::filesystem::path& run_dir);

// The data document comparing two runs: the models of each pair in `pairs` (model a of run A
// against model b of run B; run_a and run_b may be the same directory, to compare two models of
// one run), or without pairs the models of the same name (or the only model of each, when each
// run has one and the names differ), on the (dataset, item_id) keys both recorded, with
// McNemar's exact test and the paired bootstrap of stats.h. Errors: a pair naming a model its
// run does not have (listing the run's models), a pair given twice, no pairs given for one run
// compared with itself, runs with no model to pair.
Result<nlohmann::json> compare_data(const std::filesystem::path& run_a,
                                    const std::filesystem::path& run_b,
                                    const std::vector<ModelPair>& pairs = {});

// The self-contained page of a data document.
std::string render_report_html(const nlohmann::json& data);

// report_data + render_report_html, written atomically; then the figures (see ReportOptions).
Result<ReportOutcome> write_report(const std::filesystem::path& run_dir,
                                   const ReportOptions& options = {});
Result<ReportOutcome> write_compare_report(const std::filesystem::path& run_a,
                                           const std::filesystem::path& run_b,
                                           const ReportOptions& options = {});

}  // namespace clinbench
