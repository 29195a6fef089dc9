#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <deque>
#include <functional>

#include "clinbench/evaluate.h"
#include "clinbench/extract.h"

namespace clinbench {

namespace {

std::string options_block(const Item& item) {
  std::string s;
  for (const auto& [letter, text] : item.options) s += fmt::format("{}. {}\n", letter, text);
  return s;
}

std::vector<std::string> letters_of(const Item& item) {
  std::vector<std::string> v;
  for (const auto& [letter, text] : item.options) v.push_back(letter);
  return v;
}

std::string trace_json(const std::vector<ChatMessage>& messages) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& m : messages) {
    a.push_back({{"role", m.role}, {"content", m.content}});
    if (!m.reasoning.empty()) a.back()["reasoning_content"] = m.reasoning;
  }
  return a.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The assistant turn as the model wrote it, the constrained answer line included.
std::string assistant_text(const Generation& g) {
  return g.constrained_answer ? g.text + "\nAnswer: " + *g.constrained_answer : g.text;
}

// The item's energy is the sum of its parts' (turns, a scoring); unknown when any part's is.
void add_energy(ItemRecord& r, const std::optional<double>& joules, bool first_part) {
  if (first_part) {
    r.energy_j = joules;
  } else if (!joules) {
    r.energy_j.reset();
  } else if (r.energy_j) {
    *r.energy_j += *joules;
  }
}

void add_generation(ItemRecord& r, const Generation& g, bool first_turn) {
  if (first_turn) {
    r.prompt_tokens = g.prompt_tokens;
    r.ttft_ms = g.ttft_ms;
  }
  add_energy(r, g.energy_j, first_turn);
  // The batch width the item's tokens were decoded at, weighted by each turn's tokens.
  if (g.batch_width > 0 && g.output_tokens > 0) {
    const double before =
        r.extra.contains("batch_width") ? r.extra["batch_width"].get<double>() : 0;
    const auto done = static_cast<double>(r.reasoning_tokens);
    const auto now = static_cast<double>(g.output_tokens);
    r.extra["batch_width"] = (before * done + g.batch_width * now) / (done + now);
  }
  // The prompt tokens prefill_ms is the time of (the cached ones were not evaluated), all turns.
  if (g.prompt_cached_tokens) {
    const int64_t before =
        r.extra.contains("prefill_tokens") ? r.extra["prefill_tokens"].get<int64_t>() : 0;
    r.extra["prefill_tokens"] = before + g.prompt_tokens - *g.prompt_cached_tokens;
  }
  r.output_tokens.push_back(g.output_tokens);
  r.prefill_ms += g.prefill_ms;
  r.decode_ms += g.decode_ms;
  // A thinking model's reasoning is its thinking section; another model's is its whole reply.
  if (g.thinking) {
    r.reasoning_chars += static_cast<int64_t>(g.reasoning.size());
    r.reasoning_tokens += g.reasoning_tokens;
    r.extra["thinking"] = true;
    if (g.reasoning_budget >= 0) r.extra["reasoning_budget"] = g.reasoning_budget;
    if (!g.reasoning_closed) r.extra["reasoning_closed"] = false;
  } else {
    r.reasoning_chars += static_cast<int64_t>(g.text.size());
    r.reasoning_tokens += g.output_tokens;
  }
}

void finish(ItemRecord& r, const Item& item) {
  int64_t out = 0;
  for (auto t : r.output_tokens) out += t;
  if (out > 0 && r.decode_ms > 0) r.tokens_per_s = out / (r.decode_ms / 1000.0);
  r.correct_answer = item.answer;
  if (item.type != QuestionType::kOpenEnded && item.answer && r.error.empty()) {
    r.correct = !r.choice.empty() && r.choice == *item.answer;
    // A trace cut before it answered is recorded as truncated, not scored as a wrong answer.
    if (r.truncated && r.choice.empty()) r.correct.reset();
  }
}

// Takes the answer from a reply: the constrained line when present, else the extractor (over the
// final answer only). A reply cut while thinking has none, whatever its reasoning says.
void take_answer(ItemRecord& r, const Item& item, const Generation& g) {
  if (g.thinking && !g.reasoning_closed) {
    r.choice.clear();
    r.extraction_rule = to_string(ExtractionRule::kTruncatedInReasoning);
    r.truncated = true;
    return;
  }
  if (g.constrained_answer) {
    r.choice = *g.constrained_answer;
    r.extraction_rule = "grammar";
    return;
  }
  Extraction e = extract_answer(g.text, item.options);
  if (e.letter) r.choice = *e.letter;
  // With no letter the rule says why: none, ambiguous or truncated_in_reasoning.
  r.extraction_rule = to_string(e.rule);
}

}  // namespace

const char* to_string(Scoring s) {
  switch (s) {
    case Scoring::kGenerate:
      return "generate";
    case Scoring::kLoglik:
      return "loglik";
  }
  return "unknown";
}

std::optional<Scoring> scoring_from_string(const std::string& s) {
  if (s == "generate") return Scoring::kGenerate;
  if (s == "loglik") return Scoring::kLoglik;
  return std::nullopt;
}

namespace {
constexpr std::pair<KvLayout, const char*> kKvLayouts[] = {
    {KvLayout::kAuto, "auto"}, {KvLayout::kSplit, "split"}, {KvLayout::kUnified, "unified"}};
}  // namespace

const char* to_string(KvLayout k) {
  for (const auto& [v, name] : kKvLayouts) {
    if (v == k) return name;
  }
  return "auto";
}

std::optional<KvLayout> kv_layout_from_string(const std::string& s) {
  for (const auto& [v, name] : kKvLayouts) {
    if (s == name) return v;
  }
  return std::nullopt;
}

namespace {

// One item on its way through the protocol: the record so far, the conversation, and what the
// next generation turn is (0: none left).
struct InFlight {
  const Item* item = nullptr;
  ItemRecord r;
  std::vector<ChatMessage> messages;
  GenerationParams params;
  int turn = 0;  // the generation turn to run next; 0: none (log-likelihood scoring, or done)
  // open_ended_multi_choice under loglik: turn 1 is generated, then the options are scored.
  bool loglik_after = false;
  bool done = false;
};

InFlight begin(const Item& item, const EvalSettings& s, const std::string& model,
               const std::string& dataset) {
  InFlight f;
  f.item = &item;
  ItemRecord& r = f.r;
  r.model = model;
  r.dataset = dataset;
  r.item_id = item.id;
  r.split = item.split;
  r.question_type = to_string(item.type);
  const bool lettered = item.type != QuestionType::kOpenEnded && !item.options.empty();
  r.scoring = s.decoding.scoring == Scoring::kLoglik && lettered ? "loglik" : "generate";
  f.params.max_tokens =
      std::min(item.max_tokens.value_or(s.decoding.max_tokens), s.decoding.max_tokens);
  f.params.temperature = s.decoding.temperature;
  f.params.seed = s.decoding.seed;
  f.params.thinking = s.decoding.thinking;
  f.params.reasoning_budget = s.decoding.reasoning_budget;
  if (r.scoring == "loglik" && item.type == QuestionType::kOpenEndedMultiChoice) {
    // The protocol hides the options in the first turn: it is generated as for generate scoring;
    // only the mapping turn is scored.
    f.loglik_after = true;
  } else if (r.scoring == "loglik") {
    f.messages = opening_messages(item, s.prompts, Scoring::kLoglik);
    return f;
  }
  f.turn = 1;
  f.messages = opening_messages(item, s.prompts, Scoring::kGenerate);
  if (item.type == QuestionType::kMultiChoice && s.decoding.constrained_answer) {
    f.params.constrained_answer_letters = letters_of(item);
  }
  return f;
}

void finish_item(InFlight& f) {
  ItemRecord& r = f.r;
  // A reply cut by the budget stays truncated. Only an explicit answer it wrote before the cut
  // counts; a letter picked out of unfinished reasoning does not, and the item is not scored.
  if (r.truncated && r.choice != "NOTAVALUE") {
    const std::string& rule = r.extraction_rule;
    if (rule != "grammar" && rule != "answer_statement" && rule != "boxed" &&
        rule != "answer_tag") {
      r.choice.clear();
    }
  }
  r.trace = trace_json(f.messages);
  finish(r, *f.item);
  f.done = true;
}

// Applies the result of the current generation turn and prepares the next one.
void after_turn(InFlight& f, const Result<Generation>& g, const EvalSettings& s) {
  ItemRecord& r = f.r;
  const Item& item = *f.item;
  if (!g) {
    r.error = g.error().message;
    r.energy_j.reset();  // a failed turn's energy is not known
    finish_item(f);
    return;
  }
  add_generation(r, *g, f.turn == 1);
  f.messages.push_back({"assistant", assistant_text(*g), g->reasoning});
  if (item.type == QuestionType::kMultiChoice) {
    r.prediction = g->text;
    r.truncated = g->truncated;
    take_answer(r, item, *g);
  } else if (item.type == QuestionType::kOpenEnded) {
    r.prediction = g->text;
    r.truncated = g->truncated;
    r.choice = "NOTAVALUE";
  } else if (f.turn == 1) {  // open_ended_multi_choice: now map the answer to a letter
    r.prediction = g->text;
    if (g->truncated) r.extra["open_answer_truncated"] = true;
    if (g->thinking && !g->reasoning_closed) r.extra["open_answer_truncated_in_reasoning"] = true;
    f.messages.push_back(
        {"user", fmt::format("Options:\n{}\n{}", options_block(item), s.prompts.map_instruction)});
    if (s.decoding.constrained_answer) f.params.constrained_answer_letters = letters_of(item);
    f.turn = f.loglik_after ? 0 : 2;
    return;
  } else {
    r.truncated = g->truncated && !g->constrained_answer;
    take_answer(r, item, *g);
  }
  finish_item(f);
}

// The item's scoring: the options' texts after "Answer:"; the mapping turn of a two-stage item
// asked for a letter.
LoglikRequest loglik_request(const InFlight& f) {
  LoglikRequest q{f.messages, "Answer:", {}};
  for (const auto& [letter, text] : f.item->options) {
    q.continuations.emplace_back(letter, " " + (f.loglik_after ? letter : text));
  }
  return q;
}

// Records the scoring's outcome and finishes the item.
void take_loglik(InFlight& f, const Result<LoglikScores>& sc) {
  ItemRecord& r = f.r;
  if (!sc) {
    r.error = sc.error().message;
    r.energy_j.reset();
  } else {
    if (!f.loglik_after) r.prompt_tokens = sc->prompt_tokens;  // else the first turn's
    add_energy(r, sc->energy_j, !f.loglik_after);
    r.prefill_ms += sc->prefill_ms + sc->continuation_ms;
    nlohmann::json raw = nlohmann::json::object(), norm = nlohmann::json::object();
    double best = -INFINITY;
    for (const auto& o : sc->options) {
      const double n = o.logprob / static_cast<double>(std::max<int64_t>(1, o.tokens));
      raw[o.letter] = o.logprob;
      norm[o.letter] = n;
      if (n > best) {
        best = n;
        r.choice = o.letter;
      }
    }
    r.extraction_rule = "loglik_normalized";
    r.extra["loglik"] = {{"raw", raw},
                         {"normalized", norm},
                         {"prefix_ms", sc->prefill_ms},
                         {"continuations_ms", sc->continuation_ms}};
    if (sc->batch_width > 1) r.extra["loglik"]["batch_width"] = sc->batch_width;
  }
  r.trace = trace_json(f.messages);
  finish(r, *f.item);
  f.done = true;
}

void score_loglik(Backend& backend, InFlight& f) {
  const LoglikRequest q = loglik_request(f);
  take_loglik(f, backend.loglik(q.messages, q.assistant_prefix, q.continuations));
}

}  // namespace

std::vector<ChatMessage> opening_messages(const Item& item, const PromptConfig& prompts,
                                          Scoring scoring) {
  std::vector<ChatMessage> m;
  if (!prompts.system.empty()) m.push_back({"system", prompts.system});
  if (scoring == Scoring::kLoglik) {
    m.push_back({"user", fmt::format("{}\n\n{}\nAnswer with the correct option.", item.question,
                                     options_block(item))});
  } else if (item.type == QuestionType::kMultiChoice) {
    m.push_back({"user", fmt::format("{}\n\n{}\n{}", item.question, options_block(item),
                                     prompts.multi_choice_instruction)});
  } else {
    m.push_back({"user", fmt::format("{}\n\n{}", item.question, prompts.open_instruction)});
  }
  return m;
}

CellsConversation cells_conversation(const Item& item, const EvalSettings& s) {
  CellsConversation c;
  const bool lettered = item.type != QuestionType::kOpenEnded && !item.options.empty();
  const bool loglik = s.decoding.scoring == Scoring::kLoglik && lettered;
  if (loglik && item.type != QuestionType::kOpenEndedMultiChoice) {
    c.messages = opening_messages(item, s.prompts, Scoring::kLoglik);
    std::string longest;
    for (const auto& [letter, text] : item.options) {
      if (text.size() > longest.size()) longest = text;
    }
    c.messages.push_back({"assistant", "Answer: " + longest, ""});
    c.turns = 0;
    return c;
  }
  c.messages = opening_messages(item, s.prompts, Scoring::kGenerate);
  if (item.type == QuestionType::kOpenEndedMultiChoice) {
    c.messages.push_back({"assistant", "", ""});
    c.messages.push_back(
        {"user", fmt::format("Options:\n{}\n{}", options_block(item), s.prompts.map_instruction),
         ""});
    c.turns = loglik ? 1 : 2;
  }
  return c;
}

ItemRecord evaluate_item(Backend& backend, const Item& item, const EvalSettings& s,
                         const std::string& model, const std::string& dataset) {
  InFlight f = begin(item, s, model, dataset);
  while (!f.done && f.turn != 0) after_turn(f, backend.generate(f.messages, f.params), s);
  if (!f.done) score_loglik(backend, f);
  return f.r;
}

namespace {

// Called with an item's position when its record is final; an error stops the stream.
using FinishedSink = std::function<Result<void>(size_t)>;

// The generation turns of a list of items as a stream: an item's second turn is handed out as
// soon as its first is done, ahead of items not started, so it finds its first turn's KV.
class ItemFeed final : public GenerationFeed {
 public:
  ItemFeed(std::vector<InFlight>& flights, const EvalSettings& s, const FinishedSink& finished)
      : flights_(flights), s_(s), finished_(finished) {
    for (size_t i = 0; i < flights.size(); ++i) {
      if (!flights[i].done) ready_.push_back(i);
    }
  }
  std::optional<GenerationRequest> next() override {
    if (ready_.empty() || !status_) return std::nullopt;
    const size_t i = ready_.front();
    ready_.pop_front();
    return GenerationRequest{i, flights_[i].messages, flights_[i].params};
  }
  void done(size_t id, Result<Generation> g) override {
    InFlight& f = flights_[id];
    after_turn(f, g, s_);
    if (!f.done && f.turn != 0) {
      ready_.push_front(id);
    } else if (f.done && status_) {
      status_ = finished_(id);
    }
    // Else its options are scored after the stream (run_flights).
  }
  Result<void> status() const { return status_; }

 private:
  std::vector<InFlight>& flights_;
  const EvalSettings& s_;
  const FinishedSink& finished_;
  std::deque<size_t> ready_;
  Result<void> status_;
};

// Scores the flights that wait for it (not done, no turn left to generate), `width` items per
// Backend::loglik_many call, each finished in order.
Result<void> score_waiting(Backend& backend, std::vector<InFlight>& flights, int width,
                           const FinishedSink& finished) {
  std::vector<size_t> waiting;
  for (size_t i = 0; i < flights.size(); ++i) {
    if (!flights[i].done && flights[i].turn == 0) waiting.push_back(i);
  }
  const auto group = static_cast<size_t>(std::max(1, width));
  for (size_t start = 0; start < waiting.size(); start += group) {
    const size_t end = std::min(waiting.size(), start + group);
    std::vector<LoglikRequest> requests;
    for (size_t k = start; k < end; ++k) requests.push_back(loglik_request(flights[waiting[k]]));
    const auto scores = backend.loglik_many(requests, width);
    for (size_t k = start; k < end; ++k) {
      take_loglik(flights[waiting[k]], scores[k - start]);
      if (auto r = finished(waiting[k]); !r) return r;
    }
  }
  return {};
}

// Log-likelihood items first (loglik_batch at a time, up to `width`), then the generation turns
// as one stream, then the options of two-stage items whose first turn that stream generated.
Result<void> run_flights(Backend& backend, std::vector<InFlight>& flights, const EvalSettings& s,
                         int width, const FinishedSink& finished) {
  const int together = std::clamp(s.decoding.loglik_batch, 1, std::max(1, width));
  if (auto r = score_waiting(backend, flights, together, finished); !r) return r;
  ItemFeed feed(flights, s, finished);
  backend.generate_stream(feed, width);
  if (auto r = feed.status(); !r) return r;
  return score_waiting(backend, flights, together, finished);
}

std::vector<InFlight> begin_all(const std::vector<DatasetItem>& items, const EvalSettings& s,
                                const std::string& model) {
  std::vector<InFlight> flights;
  flights.reserve(items.size());
  for (const auto& [dataset, item] : items) flights.push_back(begin(item, s, model, dataset));
  return flights;
}

}  // namespace

Result<void> evaluate_stream(Backend& backend, const std::vector<DatasetItem>& items,
                             const EvalSettings& s, const std::string& model, int width,
                             const RecordSink& emit) {
  std::vector<InFlight> flights = begin_all(items, s, model);
  return run_flights(backend, flights, s, width,
                     [&](size_t i) -> Result<void> { return emit(flights[i].r); });
}

std::vector<ItemRecord> evaluate_items(Backend& backend, const std::vector<DatasetItem>& items,
                                       const EvalSettings& s, const std::string& model, int width) {
  std::vector<InFlight> flights = begin_all(items, s, model);
  // Nothing here can stop the stream: the sink keeps every record where it is.
  if (auto r = run_flights(backend, flights, s, width, [](size_t) -> Result<void> { return {}; });
      !r) {
    std::abort();
  }
  std::vector<ItemRecord> out;
  out.reserve(flights.size());
  for (auto& f : flights) out.push_back(std::move(f.r));
  return out;
}

}  // namespace clinbench
