#include "clinbench/fidelity.h"

#include <fmt/format.h>

#include "clinbench/plan.h"
#include "fidelity/measure.h"

namespace clinbench {

Result<FidelityModel> parse_candidate(const std::string& text, const std::string& reference_path) {
  if (text.empty()) return make_error(ErrorCode::kInvalidArgument, "--candidate: empty value");
  FidelityModel m;
  m.label = text;
  const auto at = text.find('@');
  const std::string head = text.substr(0, at);
  if (auto s = strategy_from_string(head); s && is_quantize(*s)) {
    m.path = reference_path;
    m.strategy = *s;
    m.recipe = at == std::string::npos ? kDefaultRecipe : text.substr(at + 1);
    if (auto r = resolve_recipe(m.recipe); !r) {
      return std::unexpected(r.error().with_context("--candidate " + text));
    }
    return m;
  }
  if (strategy_from_string(head)) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--candidate {}: only quantize:q8 and quantize:q4 apply to the "
                                  "reference; give another model as a file path",
                                  text));
  }
  m.path = text;
  m.strategy = Strategy::kNative;
  return m;
}

Result<FidelityReport> run_fidelity(const FidelityModel& reference,
                                    const std::vector<FidelityModel>& candidates,
                                    const std::vector<Item>& items, const std::string& dataset,
                                    const FidelityOptions& options) {
  auto ref = measure_reference(reference, items, options);
  if (!ref) return std::unexpected(ref.error());
  FidelityReport report;
  report.reference = reference;
  report.reference_use = ref->use;
  report.dataset = dataset;
  report.items = ref->items.size();
  report.skipped = ref->skipped;
  report.options = options;
  for (const auto& c : candidates) {
    auto r = measure_candidate(*ref, c, options);
    if (!r) return std::unexpected(r.error());
    report.candidates.push_back(std::move(*r));
  }
  return report;
}

}  // namespace clinbench
