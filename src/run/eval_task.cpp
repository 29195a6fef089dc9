#include "run/eval_task.h"

#include <fmt/format.h>

#include <fstream>

#include "backend/llama_backend.h"
#include "clinbench/evaluate.h"

namespace clinbench {

Result<std::vector<std::pair<std::string, Item>>> read_item_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(ErrorCode::kIo, fmt::format("{}: cannot read the items", path));
  std::vector<std::pair<std::string, Item>> out;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("item")) {
      return make_error(ErrorCode::kCorrupt, fmt::format("{}:{}: not an item line", path, lineno));
    }
    auto item = item_from_wire(j.at("item"));
    if (!item)
      return std::unexpected(item.error().with_context(fmt::format("{}:{}", path, lineno)));
    out.emplace_back(j.value("dataset", ""), std::move(*item));
  }
  return out;
}

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
    auto items = read_item_lines(items_path);
    if (!items) return std::unexpected(items.error());
    auto backend = make_llama_backend(model, ctx);
    int64_t done = 0;
    // Items go through in groups of `parallel`, their generation turns decoded together; each
    // group's records are emitted as soon as the group is finished.
    const size_t group = static_cast<size_t>(std::max(1, s.decoding.parallel));
    for (size_t first = 0; first < items->size(); first += group) {
      const size_t last = std::min(items->size(), first + group);
      std::vector<std::pair<std::string, Item>> pending(items->begin() + first,
                                                        items->begin() + last);
      for (const auto& r : evaluate_items(*backend, pending, s, model_name)) {
        emit(item_to_json(r));
        ++done;
      }
    }
    return nlohmann::json{{"items", done}};
  });
}

}  // namespace clinbench
