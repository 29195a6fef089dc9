#include "run/eval_task.h"

#include <fmt/format.h>

#include <fstream>

#include "backend/llama_backend.h"
#include "clinbench/evaluate.h"

namespace clinbench {

Result<AfterLoad> make_task(const nlohmann::json& task, RecordSink emit) {
  if (task.is_null() || task.empty()) return AfterLoad{};
  const std::string kind = task.value("kind", "");
  if (kind != "eval") {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("unknown worker task '{}'", kind));
  }
  auto settings = eval_settings_from_json(task.value("settings", nlohmann::json::object()));
  if (!settings) return std::unexpected(settings.error());
  const std::string items_path = task.value("items_path", "");
  const std::string model_name = task.value("model", "");
  EvalSettings s = *settings;
  return AfterLoad([s, items_path, model_name, emit](llama_model* model, llama_context* ctx,
                                                     const AttemptSpec&) -> Result<nlohmann::json> {
    std::ifstream in(items_path);
    if (!in) {
      return make_error(ErrorCode::kIo, fmt::format("{}: cannot read the items", items_path));
    }
    auto backend = make_llama_backend(model, ctx);
    std::string line;
    int64_t done = 0;
    // Items go through in groups of `parallel`, their generation turns decoded together; each
    // group's records are emitted as soon as the group is finished.
    const size_t group = static_cast<size_t>(std::max(1, s.decoding.parallel));
    std::vector<std::pair<std::string, Item>> pending;
    auto flush = [&] {
      for (const auto& r : evaluate_items(*backend, pending, s, model_name)) {
        emit(item_to_json(r));
        ++done;
      }
      pending.clear();
    };
    int lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.contains("item")) {
        return make_error(ErrorCode::kCorrupt,
                          fmt::format("{}:{}: not an item line", items_path, lineno));
      }
      auto item = item_from_wire(j.at("item"));
      if (!item) return std::unexpected(item.error());
      pending.emplace_back(j.value("dataset", ""), std::move(*item));
      if (pending.size() == group) flush();
    }
    if (!pending.empty()) flush();
    return nlohmann::json{{"items", done}};
  });
}

}  // namespace clinbench
