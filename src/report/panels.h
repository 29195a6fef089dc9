// The dashboard's panels: one table entry each, with the function that builds its Vega-Lite
// spec (data inline) from a run. Adding a panel is one builder and one line in
// dashboard_panels() (panels.cpp); the page, the static figures and the tests pick it up.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "report/run_view.h"

namespace clinbench::report {

struct Panel {
  std::string id;      // unique, stable: the page's element id and the tests' handle
  std::string figure;  // the figure it belongs to: "figure1", "figure2", ...
  std::string title;
  std::string description;  // what it shows and from which stored fields (docs/report.md)
  // A complete Vega-Lite spec with its data inline ("data": {"values": [...]}), the numbers as
  // stored or as results.json has them. A panel with nothing to draw returns message_spec(why).
  std::function<nlohmann::json(const RunView&)> build;
};

struct Figure {
  std::string id;  // "figure1", ...
  std::string title;
  int columns = 1;  // panels per row, on the page and in the static SVG
};

// In page order.
const std::vector<Figure>& dashboard_figures();
const std::vector<Panel>& dashboard_panels();

// The panel builders, by file (panels_*.cpp).
nlohmann::json accuracy_by_split_spec(const RunView& run);   // figure 1.1
nlohmann::json memory_and_init_spec(const RunView& run);     // figure 1.2
nlohmann::json loading_strategies_spec(const RunView& run);  // figure 1.3
nlohmann::json dataset_splits_spec(const RunView& run);      // figure 1.4
nlohmann::json question_types_spec(const RunView& run);      // figure 1.5
nlohmann::json accuracy_by_type_spec(const RunView& run);    // figure 1.6
nlohmann::json token_efficiency_spec(const RunView& run);    // figure 1.7
nlohmann::json reasoning_length_spec(const RunView& run);    // figure 1.8
nlohmann::json tokens_stacked_spec(const RunView& run);      // figure 1.9
nlohmann::json efficiency_labeled_spec(const RunView& run);  // figure 2
nlohmann::json generalization_gap_spec(const RunView& run);  // figure 3
nlohmann::json average_tokens_spec(const RunView& run);      // figure 4
nlohmann::json average_energy_spec(const RunView& run);      // figure 4
nlohmann::json fidelity_kl_spec(const RunView& run);         // figure 5.1
nlohmann::json fidelity_flips_spec(const RunView& run);      // figure 5.2
nlohmann::json fidelity_size_spec(const RunView& run);       // figure 5.3

// --- spec helpers (panel_specs.cpp) ----------------------------------------------------------
// A panel that draws its lines of text (why there is nothing to plot), as text marks.
nlohmann::json message_spec(const std::vector<std::string>& lines);
// The y encoding of a model axis: names in run order, long names shortened (short_model_labels;
// the tooltip has them whole).
nlohmann::json model_axis(const RunView& run, const std::string& field = "model");
// The legend of a colour by model, with the same short labels.
nlohmann::json model_legend(const RunView& run);
// Labels for long model names: what all names share at the start and end shortened to a hint,
// the part that tells them apart kept ("hospit…-8b-3-q4_k…notes"); names unchanged when all are
// short.
std::vector<std::string> short_model_labels(const std::vector<std::string>& names);
// A Vega expression mapping each model name to its short label; null when none is shortened.
nlohmann::json model_label_expr(const RunView& run);
// The same for any list of names (fidelity's candidates).
nlohmann::json short_label_expr(const std::vector<std::string>& names);
// Bars of accuracy with their Wilson interval and, for rows without accuracy, their note
// (field note_label: "no labels", "not scored", ...) written at 0 instead of a bar. `rows` have
// the keys of results.json accuracy rows plus note_label and the fields y_encoding and
// offset_field name.
nlohmann::json accuracy_bars_spec(nlohmann::json rows, const nlohmann::json& y_encoding,
                                  const std::string& offset_field, const std::string& color_title,
                                  int rows_drawn);
// The string in j, or "" when j is not a string.
inline std::string str(const nlohmann::json& j) {
  return j.is_string() ? j.get<std::string>() : std::string();
}
// A JSON number or null from an optional.
nlohmann::json opt(const std::optional<double>& v);

}  // namespace clinbench::report
