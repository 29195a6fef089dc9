// Pieces of the report's data document shared by the run report and the comparison.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "report/panels.h"
#include "report/run_view.h"

namespace clinbench::report {

inline constexpr const char* kReportFormat = "clinbench.report/1";

// {"format", "kind" ("run" or "compare"), "title", "generated_at", "clinbench"}.
nlohmann::json document_header(const std::string& kind, const std::string& title);
// The page's "notices" (shown under its title): a run still going, say. `label` starts each
// line ("Run A: ", or "" for a single run).
nlohmann::json run_notices(const RunView& run, const std::string& label);
// The LoRA adapters of a model's latest attempt log (RunView::attempt_logs entry): "a.gguf (scale
// 0.5), b.gguf (scale 1)"; "" for a model without.
std::string model_adapters(const nlohmann::json& attempt_logs);
nlohmann::json figure_json(const Figure& figure, nlohmann::json panels);
nlohmann::json panel_json(const std::string& id, const std::string& title,
                          const std::string& description, nlohmann::json spec);

}  // namespace clinbench::report
