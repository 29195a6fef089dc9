#include "worker/protocol.h"

#include <fmt/format.h>

#include <fstream>

#include "clinbench/store.h"
#include "util/atomic_file.h"

namespace clinbench {

using nlohmann::json;

namespace {

constexpr std::string_view kRecordPrefix = "record ";
constexpr std::string_view kAttemptPrefix = "attempt ";

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

nlohmann::json to_json(const AttemptSpec& s) {
  nlohmann::json j = {
      {"model_path", s.model_path},
      {"strategy", to_string(s.strategy)},
      {"recipe", s.recipe},
      {"n_ctx", s.n_ctx},
      {"n_seq", s.n_seq},
      {"kv", to_string(s.kv)},
      {"kv_note", s.kv_note},
      {"n_batch", s.n_batch},
      {"n_threads", s.n_threads},
      {"n_gpu_layers", s.n_gpu_layers},
      {"device_budget", s.device_budget ? nlohmann::json(*s.device_budget) : nlohmann::json()},
      {"warmup",
       {{"enabled", s.warmup.enabled},
        {"required", s.warmup.required},
        {"prompt", s.warmup.prompt},
        {"n_predict", s.warmup.n_predict}}}};
  nlohmann::json adapters = nlohmann::json::array();
  for (const auto& a : s.adapters) adapters.push_back({{"path", a.path}, {"scale", a.scale}});
  j["adapters"] = std::move(adapters);
  return j;
}

Result<AttemptSpec> attempt_spec_from_json(const nlohmann::json& j) {
  try {
    AttemptSpec s;
    s.model_path = j.at("model_path").get<std::string>();
    auto st = strategy_from_string(j.at("strategy").get<std::string>());
    if (!st) return make_error(ErrorCode::kInvalidArgument, "worker spec: unknown strategy");
    s.strategy = *st;
    s.recipe = j.at("recipe").get<std::string>();
    s.n_ctx = j.at("n_ctx").get<uint32_t>();
    s.n_seq = j.at("n_seq").get<uint32_t>();
    const std::string layout = j.value("kv", std::string("auto"));
    auto kv = kv_layout_from_string(layout);
    if (!kv) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("worker spec: unknown KV layout '{}'", layout));
    }
    s.kv = *kv;
    s.kv_note = j.value("kv_note", std::string());
    s.n_batch = j.at("n_batch").get<uint32_t>();
    s.n_threads = j.at("n_threads").get<int>();
    s.n_gpu_layers = j.at("n_gpu_layers").get<int>();
    if (j.contains("device_budget") && !j.at("device_budget").is_null()) {
      s.device_budget = j.at("device_budget").get<uint64_t>();
    }
    const auto& w = j.at("warmup");
    s.warmup.enabled = w.at("enabled").get<bool>();
    s.warmup.required = w.at("required").get<bool>();
    s.warmup.prompt = w.at("prompt").get<std::string>();
    s.warmup.n_predict = w.at("n_predict").get<int>();
    for (const auto& a : j.at("adapters")) {
      s.adapters.push_back({a.at("path").get<std::string>(), a.at("scale").get<float>()});
    }
    return s;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("worker spec: {}", e.what()));
  }
}

std::string encode_spec(const WorkerSpec& spec) {
  json j = {{"attempt", to_json(spec.attempt)}, {"eval", nullptr}};
  if (spec.eval) {
    j["eval"] = {{"items_path", spec.eval->items_path},
                 {"model", spec.eval->model},
                 {"settings", to_json(spec.eval->settings)}};
  }
  return dump(j);
}

Result<WorkerSpec> decode_spec(std::string_view text) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(ErrorCode::kInvalidArgument, "worker spec: not a JSON object");
  }
  WorkerSpec spec;
  if (!j.contains("attempt")) {
    return make_error(ErrorCode::kInvalidArgument, "worker spec: no 'attempt'");
  }
  auto attempt = attempt_spec_from_json(j.at("attempt"));
  if (!attempt) return std::unexpected(attempt.error());
  spec.attempt = std::move(*attempt);
  const json eval = j.value("eval", json());
  if (!eval.is_null()) {
    try {
      EvalJob job;
      job.items_path = eval.at("items_path").get<std::string>();
      job.model = eval.at("model").get<std::string>();
      auto settings = eval_settings_from_json(eval.at("settings"));
      if (!settings) return std::unexpected(settings.error().with_context("worker spec"));
      job.settings = std::move(*settings);
      spec.eval = std::move(job);
    } catch (const std::exception& e) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("worker spec: eval: {}", e.what()));
    }
  }
  return spec;
}

std::string encode_message(const WorkerMessage& message) {
  if (const auto* r = std::get_if<RecordMessage>(&message)) {
    return std::string(kRecordPrefix) + dump(json(item_to_json(r->record)));
  }
  return std::string(kAttemptPrefix) + dump(to_json(std::get<AttemptMessage>(message).attempt));
}

Result<WorkerMessage> decode_message(std::string_view line) {
  const bool record = line.starts_with(kRecordPrefix);
  if (!record && !line.starts_with(kAttemptPrefix)) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("the worker sent an unknown line '{}'", line.substr(0, 40)));
  }
  const json j = json::parse(line.substr(record ? kRecordPrefix.size() : kAttemptPrefix.size()),
                             nullptr, false);
  if (j.is_discarded()) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("the worker sent a malformed {}", record ? "record" : "attempt"));
  }
  if (record) {
    auto r = item_record_from_json(j);
    if (!r) return std::unexpected(r.error().with_context("the worker sent a bad record"));
    return RecordMessage{std::move(*r)};
  }
  auto a = attempt_from_json(j);
  if (!a) return std::unexpected(a.error().with_context("the worker sent a bad attempt"));
  return AttemptMessage{std::move(*a)};
}

Result<void> write_items_file(const std::filesystem::path& path,
                              const std::vector<DatasetItem>& items) {
  std::string text;
  for (const auto& [dataset, item] : items) {
    text += dump(json{{"dataset", dataset}, {"item", item_to_wire(item)}});
    text += '\n';
  }
  return write_file_atomically(path, text);
}

Result<std::vector<DatasetItem>> read_items_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    return make_error(ErrorCode::kIo, fmt::format("{}: cannot read the items", path.string()));
  }
  std::vector<DatasetItem> out;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    const std::string where = fmt::format("{}:{}", path.string(), lineno);
    auto j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("item") ||
        !j.value("dataset", json()).is_string()) {
      return make_error(ErrorCode::kCorrupt, where + ": not an item line");
    }
    auto item = item_from_wire(j.at("item"));
    if (!item) return std::unexpected(item.error().with_context(where));
    out.push_back({j.at("dataset").get<std::string>(), std::move(*item)});
  }
  if (in.bad()) {
    return make_error(ErrorCode::kIo, fmt::format("{}: read error", path.string()));
  }
  return out;
}

json item_to_wire(const Item& item) {
  json j = {{"id", item.id},
            {"split", item.split},
            {"type", to_string(item.type)},
            {"question", item.question},
            {"options", item.options},
            {"source", item.source}};
  j["answer"] = item.answer ? json(*item.answer) : json(nullptr);
  j["max_tokens"] = item.max_tokens ? json(*item.max_tokens) : json(nullptr);
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
    if (auto it = j.find("max_tokens"); it != j.end() && !it->is_null()) {
      item.max_tokens = it->get<int>();
    }
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
    if (!j.at("energy_j").is_null()) r.energy_j = j.at("energy_j").get<double>();
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
            {"parallel", s.decoding.parallel},
            {"loglik_batch", s.decoding.loglik_batch},
            {"thinking", to_string(s.decoding.thinking)},
            {"reasoning_budget", s.decoding.reasoning_budget}}}};
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
    s.decoding.loglik_batch = d.value("loglik_batch", 1);
    auto thinking = thinking_from_string(d.value("thinking", std::string("auto")));
    if (!thinking) return make_error(ErrorCode::kCorrupt, "settings: unknown thinking");
    s.decoding.thinking = *thinking;
    s.decoding.reasoning_budget = d.value("reasoning_budget", kDefaultReasoningBudget);
    return s;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kCorrupt, fmt::format("settings: {}", e.what()));
  }
}

}  // namespace clinbench
