// Static copies of the report's figures in RUN_DIR/figures/: SVG rendered by Node.js with the
// embedded Vega, PNG by a headless Chromium screenshot of each SVG (docs/report.md).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "clinbench/report.h"

namespace clinbench::report {

// One Vega-Lite spec per figure of the data document: its panels concatenated, `columns` a row.
nlohmann::json figure_specs(const nlohmann::json& data);

// Writes figures/<id>.svg and .png for each figure. What cannot be made (no node, no chromium, a
// renderer that failed) is added to outcome.missing with the reason; files made are added to
// outcome.files. Errors only when out_dir cannot be created.
Result<void> write_static_figures(const nlohmann::json& data, const std::filesystem::path& out_dir,
                                  const ReportOptions& options, ReportOutcome& outcome);

// The program named by `given`, else $env_var, else the first of `names` found on PATH; "" when
// none is found.
std::string find_program(const std::string& given, const char* env_var,
                         std::initializer_list<const char*> names);

}  // namespace clinbench::report
