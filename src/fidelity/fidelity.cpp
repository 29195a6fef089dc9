#include "clinbench/fidelity.h"

#include <fmt/format.h>

#include "clinbench/plan.h"
#include "fidelity/measure.h"
#include "fidelity/model_session.h"

namespace clinbench {

namespace {

constexpr std::string_view kLoraPrefix = "lora=";
constexpr std::string_view kLoraSeparator = "+lora=";

// The model a candidate's BASE names (the text before its first "+lora=").
Result<FidelityModel> parse_base(const std::string& text, const std::string& head,
                                 const std::string& reference_path) {
  FidelityModel m;
  m.label = text;
  if (head.empty()) {
    m.path = reference_path;
    m.strategy = Strategy::kNative;
    return m;
  }
  const auto at = head.find('@');
  const std::string name = head.substr(0, at);
  if (auto s = strategy_from_string(name); s && is_quantize(*s)) {
    m.path = reference_path;
    m.strategy = *s;
    m.recipe = at == std::string::npos ? kDefaultRecipe : head.substr(at + 1);
    if (auto r = resolve_recipe(m.recipe); !r) {
      return std::unexpected(r.error().with_context("--candidate " + text));
    }
    return m;
  }
  if (strategy_from_string(name)) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--candidate {}: only quantize:q8 and quantize:q4 apply to the "
                                  "reference; give another model as a file path",
                                  text));
  }
  m.path = head;
  m.strategy = Strategy::kNative;
  return m;
}

}  // namespace

Result<FidelityModel> parse_candidate(const std::string& text, const std::string& reference_path) {
  if (text.empty()) return make_error(ErrorCode::kInvalidArgument, "--candidate: empty value");
  // BASE, then "+lora=FILE[:SCALE]" for each adapter; "lora=..." alone: the reference as stored.
  std::string head;
  std::vector<std::string> loras;
  size_t from = std::string::npos;
  if (text.starts_with(kLoraPrefix)) {
    from = kLoraPrefix.size();
  } else if (const size_t p = text.find(kLoraSeparator); p != std::string::npos) {
    head = text.substr(0, p);
    from = p + kLoraSeparator.size();
  } else {
    head = text;
  }
  while (from != std::string::npos) {
    const size_t next = text.find(kLoraSeparator, from);
    loras.push_back(text.substr(from, next == std::string::npos ? next : next - from));
    from = next == std::string::npos ? next : next + kLoraSeparator.size();
  }
  auto m = parse_base(text, head, reference_path);
  if (!m) return m;
  for (const auto& l : loras) {
    auto spec = parse_adapter_spec(l, "--candidate " + text);
    if (!spec) return std::unexpected(spec.error());
    m->adapters.push_back(std::move(*spec));
  }
  return m;
}

Result<FidelityReport> run_fidelity(const FidelityModel& reference,
                                    const std::vector<FidelityModel>& candidates,
                                    const std::vector<Item>& items, const std::string& dataset,
                                    const FidelityOptions& options) {
  // A bad adapter is a bad input: refused before the reference's pass, not after it.
  if (auto r = check_model_adapters(reference, /*hash=*/false); !r)
    return std::unexpected(r.error());
  for (const auto& c : candidates) {
    if (auto r = check_model_adapters(c, /*hash=*/false); !r) return std::unexpected(r.error());
  }
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
