#include "fidelity/measure.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "clinbench/evaluate.h"
#include "clinbench/units.h"
#include "fidelity/divergence.h"
#include "fidelity/model_session.h"
#include "util/clock.h"

namespace clinbench {

namespace {

// The prompts and letter tokens of one item under one model's template and tokenizer.
struct ItemTokens {
  std::vector<int32_t> answer_prompt;
  std::vector<std::vector<int32_t>> letter_tokens;
  std::vector<int32_t> reasoning_prompt;
};

// The letters as the model would write them after "Answer:" (" A", " B", ...): their shared
// leading tokens join the prompt, and what follows is each letter's own token sequence. With
// one token per letter the distribution is the softmax over the letters' next-token logits.
Result<ItemTokens> item_tokens(LlamaProbe& probe, const Item& item, const PromptConfig& prompts) {
  ItemTokens t;
  auto answer = probe.prompt_tokens(opening_messages(item, prompts, Scoring::kLoglik), "Answer:");
  if (!answer) return std::unexpected(answer.error());
  auto reasoning = probe.prompt_tokens(opening_messages(item, prompts, Scoring::kGenerate), "");
  if (!reasoning) return std::unexpected(reasoning.error());
  std::vector<std::vector<int32_t>> seqs;
  for (const auto& [letter, text] : item.options) seqs.push_back(probe.tokenize(" " + letter));
  size_t common = 0;
  while (true) {
    bool same = true;
    for (const auto& s : seqs) same = same && common < s.size() && s[common] == seqs[0][common];
    if (!same) break;
    ++common;
  }
  t.answer_prompt = std::move(*answer);
  t.answer_prompt.insert(t.answer_prompt.end(), seqs[0].begin(),
                         seqs[0].begin() + static_cast<std::ptrdiff_t>(common));
  for (const auto& s : seqs) {
    std::vector<int32_t> own(s.begin() + static_cast<std::ptrdiff_t>(common), s.end());
    if (own.empty() ||
        std::find(t.letter_tokens.begin(), t.letter_tokens.end(), own) != t.letter_tokens.end()) {
      return make_error(ErrorCode::kUnsupported,
                        "the option letters do not tokenize apart after \"Answer:\"");
    }
    t.letter_tokens.push_back(std::move(own));
  }
  t.reasoning_prompt = std::move(*reasoning);
  return t;
}

// Speed figures gathered during the work, added to the load's memory figures.
struct Timing {
  double eval_ms = 0;
  int64_t eval_tokens = 0;
  int64_t decode_steps = 0;
  double decode_ms = 0;

  void into(ModelUse& use) const {
    use.eval_ms = eval_ms;
    use.eval_tokens = eval_tokens;
    use.decode_tokens = decode_steps;
    if (eval_ms > 0) use.eval_tokens_per_s = static_cast<double>(eval_tokens) / (eval_ms / 1000);
    if (decode_ms > 0) {
      use.decode_tokens_per_s = static_cast<double>(decode_steps) / (decode_ms / 1000);
    }
  }
};

// A pass over the tokens, timed.
Result<std::vector<float>> timed_log_probs(LlamaProbe& probe, const std::vector<int32_t>& tokens,
                                           size_t from, Timing& timing) {
  const auto t0 = Clock::now();
  const int64_t before = probe.tokens_evaluated();
  auto r = probe.log_probs(tokens, from);
  timing.eval_ms += ms_since(t0);
  timing.eval_tokens += probe.tokens_evaluated() - before;
  return r;
}

// A greedy continuation; its one-token steps count as decode.
Result<std::vector<int32_t>> timed_greedy(LlamaProbe& probe, const std::vector<int32_t>& prompt,
                                          int n, Timing& timing) {
  const int64_t steps = probe.decode_steps();
  const double ms = probe.decode_ms();
  auto r = probe.greedy(prompt, n);
  timing.decode_steps += probe.decode_steps() - steps;
  timing.decode_ms += probe.decode_ms() - ms;
  return r;
}

// The answer distribution over the letters, as log-probabilities: each letter's probability
// is that of its token sequence after the prompt, renormalized over the letters (with one token
// per letter: the softmax over the letters' next-token logits).
Result<std::vector<double>> letter_distribution(LlamaProbe& probe,
                                                const std::vector<int32_t>& prompt,
                                                const std::vector<std::vector<int32_t>>& letters,
                                                Timing& timing) {
  const auto t0 = Clock::now();
  const int64_t before = probe.tokens_evaluated();
  auto scores = probe.continuation_log_probs(prompt, letters);
  timing.eval_ms += ms_since(t0);
  timing.eval_tokens += probe.tokens_evaluated() - before;
  if (!scores) return std::unexpected(scores.error());
  return normalize_log(*scores);
}

// The teacher-forced tokens of a trace: the prompt and every trace token but the last (nothing
// is predicted after it).
std::vector<int32_t> forced_tokens(const ReferenceItem& r) {
  std::vector<int32_t> t = r.reasoning_prompt;
  t.insert(t.end(), r.trace.begin(), r.trace.end() - 1);
  return t;
}

}  // namespace

Result<ReferenceRun> measure_reference(const FidelityModel& reference,
                                       const std::vector<Item>& items,
                                       const FidelityOptions& options) {
  ReferenceRun run;
  run.model = reference;
  Timing timing;
  auto use = with_model(reference, options, [&](LlamaProbe& probe) -> Result<void> {
    run.n_vocab = probe.n_vocab();
    const uint64_t row_bytes = static_cast<uint64_t>(run.n_vocab) * sizeof(float);
    uint64_t kept = 0;
    for (const Item& item : items) {
      if (item.type == QuestionType::kOpenEnded || item.options.empty()) {
        run.skipped.push_back({item.id, "open_ended: no options to compare"});
        continue;
      }
      auto tokens = item_tokens(probe, item, options.prompts);
      if (!tokens) {
        run.skipped.push_back({item.id, tokens.error().message});
        continue;
      }
      const size_t longest =
          std::max(tokens->answer_prompt.size(),
                   tokens->reasoning_prompt.size() + static_cast<size_t>(options.trace_tokens));
      if (longest > options.n_ctx) {
        run.skipped.push_back(
            {item.id, fmt::format("{} tokens with the trace do not fit the context of {} (--ctx)",
                                  longest, options.n_ctx)});
        continue;
      }
      ReferenceItem r;
      r.item = item;
      for (const auto& [letter, text] : item.options) r.letters.push_back(letter);
      r.answer_prompt = std::move(tokens->answer_prompt);
      r.letter_tokens = std::move(tokens->letter_tokens);
      r.reasoning_prompt = std::move(tokens->reasoning_prompt);
      auto letters = letter_distribution(probe, r.answer_prompt, r.letter_tokens, timing);
      if (!letters) return std::unexpected(letters.error().with_context("item " + item.id));
      r.letter_log_probs = std::move(*letters);
      auto trace = timed_greedy(probe, r.reasoning_prompt, options.trace_tokens, timing);
      if (!trace) return std::unexpected(trace.error().with_context("item " + item.id));
      r.trace = std::move(*trace);
      if (!r.trace.empty()) {
        kept += r.trace.size() * row_bytes;
        if (kept > options.max_reference_bytes) {
          return make_error(
              ErrorCode::kResource,
              fmt::format("the reference's trace distributions need more than {} (items x "
                          "trace tokens x vocabulary of {} x 4 bytes); use fewer items "
                          "(--limit) or a shorter trace (--trace-tokens)",
                          format_bytes(options.max_reference_bytes), run.n_vocab));
        }
        // The same batched pass a candidate gets, so a model compared with itself differs by 0.
        auto rows = timed_log_probs(probe, forced_tokens(r), r.reasoning_prompt.size() - 1, timing);
        if (!rows) return std::unexpected(rows.error().with_context("item " + item.id));
        r.trace_log_probs = std::move(*rows);
      }
      run.items.push_back(std::move(r));
    }
    return {};
  });
  if (!use) return std::unexpected(use.error());
  run.use = *use;
  timing.into(run.use);
  if (run.items.empty()) {
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("no item to measure: {} items, {} skipped{}", items.size(), run.skipped.size(),
                    run.skipped.empty()
                        ? ""
                        : " (first: " + run.skipped[0].id + ": " + run.skipped[0].reason + ")"));
  }
  return run;
}

namespace {

void summarize(CandidateResult& c) {
  std::vector<double> kls;
  std::vector<std::optional<bool>> ref_correct, cand_correct;
  double trace_kl_sum = 0;
  int64_t trace_same = 0, trace_positions = 0;
  size_t agree = 0, traced = 0;
  for (const auto& it : c.items) {
    kls.push_back(it.answer_kl);
    ref_correct.push_back(it.reference_correct);
    cand_correct.push_back(it.candidate_correct);
    if (it.top1_agree) {
      ++agree;
    } else {
      c.flipped.push_back(it.id);
    }
    if (it.trace_tokens > 0) {
      trace_kl_sum += it.trace_kl_mean;
      ++traced;
      trace_positions += it.trace_tokens;
      trace_same += static_cast<int64_t>(std::llround(it.trace_top1_rate * it.trace_tokens));
    }
    if (!it.prompt_tokens_match) ++c.prompt_token_mismatches;
  }
  const double n = static_cast<double>(c.items.size());
  double sum = 0;
  for (double k : kls) sum += k;
  c.kl_mean = n > 0 ? sum / n : 0;
  c.kl_median = nearest_rank(kls, 0.5);
  c.kl_p99 = nearest_rank(kls, 0.99);
  c.kl_max = nearest_rank(kls, 1.0);
  c.trace_kl_mean = traced > 0 ? trace_kl_sum / static_cast<double>(traced) : 0;
  c.trace_top1_rate = trace_positions > 0
                          ? static_cast<double>(trace_same) / static_cast<double>(trace_positions)
                          : 1;
  c.top1_agreement = n > 0 ? static_cast<double>(agree) / n : 1;
  c.flip_rate = 1 - c.top1_agreement;
  c.reference_accuracy = summarize_accuracy(ref_correct);
  c.candidate_accuracy = summarize_accuracy(cand_correct);
  if (auto m = mcnemar_exact(ref_correct, cand_correct)) c.mcnemar = *m;
}

}  // namespace

Result<CandidateResult> measure_candidate(const ReferenceRun& reference,
                                          const FidelityModel& candidate,
                                          const FidelityOptions& options) {
  CandidateResult c;
  c.model = candidate;
  Timing timing;
  auto use = with_model(candidate, options, [&](LlamaProbe& probe) -> Result<void> {
    if (probe.n_vocab() != reference.n_vocab) {
      return make_error(ErrorCode::kUnsupported,
                        fmt::format("vocabulary of {} tokens, the reference's has {}: not the "
                                    "same model (clinbench fidelity --tokenizer lists the "
                                    "differences)",
                                    probe.n_vocab(), reference.n_vocab));
    }
    const size_t nv = static_cast<size_t>(reference.n_vocab);
    for (const ReferenceItem& r : reference.items) {
      ItemFidelity f;
      f.id = r.item.id;
      f.answer = r.item.answer;
      f.letters = r.letters;
      auto letters = letter_distribution(probe, r.answer_prompt, r.letter_tokens, timing);
      if (!letters) return std::unexpected(letters.error().with_context("item " + r.item.id));
      const std::vector<double>& lq = *letters;
      f.answer_kl = kl_divergence(r.letter_log_probs.data(), lq.data(), lq.size());
      for (size_t i = 0; i < lq.size(); ++i) {
        f.reference_probs.push_back(std::exp(r.letter_log_probs[i]));
        f.candidate_probs.push_back(std::exp(lq[i]));
      }
      f.reference_choice = r.letters[argmax(r.letter_log_probs.data(), lq.size())];
      f.candidate_choice = r.letters[argmax(lq.data(), lq.size())];
      f.top1_agree = f.reference_choice == f.candidate_choice;
      if (r.item.answer) {
        f.reference_correct = f.reference_choice == *r.item.answer;
        f.candidate_correct = f.candidate_choice == *r.item.answer;
      }
      // The candidate's own template and tokenizer on the item: the comparison forces the
      // reference's tokens into both, so a file that tokenizes otherwise is flagged.
      auto own = item_tokens(probe, r.item, options.prompts);
      f.prompt_tokens_match = own && own->answer_prompt == r.answer_prompt &&
                              own->letter_tokens == r.letter_tokens &&
                              own->reasoning_prompt == r.reasoning_prompt;
      if (!r.trace.empty()) {
        auto rows = timed_log_probs(probe, forced_tokens(r), r.reasoning_prompt.size() - 1, timing);
        if (!rows) return std::unexpected(rows.error().with_context("item " + r.item.id));
        double kl_sum = 0;
        int same = 0;
        for (size_t p = 0; p < r.trace.size(); ++p) {
          const float* a = r.trace_log_probs.data() + p * nv;
          const float* b = rows->data() + p * nv;
          kl_sum += kl_divergence(a, b, nv);
          if (argmax(a, nv) == argmax(b, nv)) ++same;
        }
        f.trace_tokens = static_cast<int>(r.trace.size());
        f.trace_kl_mean = kl_sum / static_cast<double>(r.trace.size());
        f.trace_top1_rate = static_cast<double>(same) / static_cast<double>(r.trace.size());
      }
      c.items.push_back(std::move(f));
    }
    // Decode speed: the candidate's own greedy continuation of the first item's prompt.
    const ReferenceItem& first = reference.items.front();
    auto own = timed_greedy(probe, first.reasoning_prompt, options.trace_tokens, timing);
    if (!own) return std::unexpected(own.error());
    return {};
  });
  if (!use) return std::unexpected(use.error());
  c.use = *use;
  timing.into(c.use);
  summarize(c);
  return c;
}

}  // namespace clinbench
