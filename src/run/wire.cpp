// JSON forms that cross the supervisor/worker pipe: items to evaluate, finished records and
// the evaluation settings.
#include <fmt/format.h>

#include "clinbench/evaluate.h"

namespace clinbench {

using nlohmann::json;

json item_to_wire(const Item& item) {
  json j = {{"id", item.id},
            {"split", item.split},
            {"type", to_string(item.type)},
            {"question", item.question},
            {"options", item.options},
            {"source", item.source}};
  j["answer"] = item.answer ? json(*item.answer) : json(nullptr);
  return j;
}

Result<Item> item_from_wire(const json& j) {
  try {
    Item item;
    item.id = j.at("id").get<std::string>();
    item.split = j.at("split").get<std::string>();
    auto t = question_type_from_string(j.at("type").get<std::string>());
    if (!t) return make_error(ErrorCode::kCorrupt, "item: unknown question type");
    item.type = *t;
    item.question = j.at("question").get<std::string>();
    item.options = j.at("options").get<std::map<std::string, std::string>>();
    if (!j.at("answer").is_null()) item.answer = j.at("answer").get<std::string>();
    item.source = j.value("source", "");
    return item;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kCorrupt, fmt::format("item: {}", e.what()));
  }
}

Result<ItemRecord> item_record_from_json(const json& j) {
  try {
    ItemRecord r;
    r.model = j.at("model").get<std::string>();
    r.dataset = j.at("dataset").get<std::string>();
    r.item_id = j.at("item_id").get<std::string>();
    r.split = j.at("split").get<std::string>();
    r.question_type = j.at("question_type").get<std::string>();
    r.scoring = j.at("scoring").get<std::string>();
    r.prompt_tokens = j.at("prompt_tokens").get<int64_t>();
    r.output_tokens = j.at("output_tokens").get<std::vector<int64_t>>();
    r.reasoning_chars = j.at("reasoning_chars").get<int64_t>();
    r.reasoning_tokens = j.at("reasoning_tokens").get<int64_t>();
    if (!j.at("ttft_ms").is_null()) r.ttft_ms = j.at("ttft_ms").get<double>();
    r.prefill_ms = j.at("prefill_ms").get<double>();
    r.decode_ms = j.at("decode_ms").get<double>();
    if (!j.at("tokens_per_s").is_null()) r.tokens_per_s = j.at("tokens_per_s").get<double>();
    r.choice = j.at("choice").get<std::string>();
    r.prediction = j.at("prediction").get<std::string>();
    if (!j.at("correct_answer").is_null())
      r.correct_answer = j.at("correct_answer").get<std::string>();
    if (!j.at("correct").is_null()) r.correct = j.at("correct").get<bool>();
    r.extraction_rule = j.at("extraction_rule").get<std::string>();
    r.truncated = j.at("truncated").get<bool>();
    r.error = j.at("error").get<std::string>();
    r.trace = j.at("trace").get<std::string>();
    r.extra = j.value("extra", json::object());
    if (r.extra.is_null()) r.extra = json::object();
    return r;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kCorrupt, fmt::format("item record: {}", e.what()));
  }
}

json to_json(const EvalSettings& s) {
  return {{"prompts",
           {{"system", s.prompts.system},
            {"multi_choice_instruction", s.prompts.multi_choice_instruction},
            {"open_instruction", s.prompts.open_instruction},
            {"map_instruction", s.prompts.map_instruction}}},
          {"decoding",
           {{"scoring", to_string(s.decoding.scoring)},
            {"max_tokens", s.decoding.max_tokens},
            {"temperature", s.decoding.temperature},
            {"seed", s.decoding.seed},
            {"constrained_answer", s.decoding.constrained_answer},
            {"strict", s.decoding.strict},
            {"parallel", s.decoding.parallel}}}};
}

Result<EvalSettings> eval_settings_from_json(const json& j) {
  try {
    EvalSettings s;
    const auto& p = j.at("prompts");
    s.prompts.system = p.at("system").get<std::string>();
    s.prompts.multi_choice_instruction = p.at("multi_choice_instruction").get<std::string>();
    s.prompts.open_instruction = p.at("open_instruction").get<std::string>();
    s.prompts.map_instruction = p.at("map_instruction").get<std::string>();
    const auto& d = j.at("decoding");
    auto sc = scoring_from_string(d.at("scoring").get<std::string>());
    if (!sc) return make_error(ErrorCode::kCorrupt, "settings: unknown scoring");
    s.decoding.scoring = *sc;
    s.decoding.max_tokens = d.at("max_tokens").get<int>();
    s.decoding.temperature = d.at("temperature").get<float>();
    s.decoding.seed = d.at("seed").get<uint64_t>();
    s.decoding.constrained_answer = d.at("constrained_answer").get<bool>();
    s.decoding.strict = d.at("strict").get<bool>();
    s.decoding.parallel = d.value("parallel", 1);
    return s;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kCorrupt, fmt::format("settings: {}", e.what()));
  }
}

}  // namespace clinbench
