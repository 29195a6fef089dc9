#include "backend/llama_loglik.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "backend/log_sum_exp.h"
#include "util/clock.h"

namespace clinbench {

namespace {

// The ledger's units of a scoring (which runs outside the scheduler, whose units are request
// ids): the item's place in its group, counted down from the top.
constexpr uint64_t kLoglikUnit = ~uint64_t{0};
uint64_t unit_of(size_t index) { return kLoglikUnit - index; }

// What closes a thinking section the prompt left open (DeepSeek-R1's "<think>\n"), so that a
// scored answer follows the thinking instead of sitting inside it; "" when none is open.
std::string closed_thinking(const ReplyFormat& f) {
  if (!f.thinks) return "";
  const ParsedReply open = parse_reply(f, "");
  return open.opened && !open.closed ? f.thinking_end.front() + "\n\n" : "";
}

}  // namespace

Result<LoglikScores> LlamaLoglik::score(const LoglikRequest& q) {
  const auto t0 = Clock::now();
  if (!ledger_) return score_alone(t0, q);
  // The scoring runs alone: all its energy is its own.
  ledger_->step(t0, {{unit_of(0), 1}});
  auto out = score_alone(t0, q);
  const auto joules = ledger_->settle(unit_of(0), Clock::now());
  if (out) out->energy_j = joules;
  return out;
}

Result<LlamaLoglik::Scoring> LlamaLoglik::prepare(const LoglikRequest& q) const {
  auto prompt = chat_.render_for_reply(q.messages, Thinking::kAuto);
  if (!prompt) return std::unexpected(prompt.error());
  Scoring s;
  s.prompt =
      chat_.tokenize_prompt(prompt->text + closed_thinking(prompt->reply) + q.assistant_prefix);
  if (s.prompt.empty()) return make_error(ErrorCode::kInvalidArgument, "the prompt is empty");
  s.out.prompt_tokens = static_cast<int64_t>(s.prompt.size());
  const int cells = engine_.seq_cells();
  for (const auto& [letter, text] : q.continuations) {
    std::vector<llama_token> ct = chat_.tokenize(text, false, false);
    if (ct.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("option {} tokenizes to nothing", letter));
    }
    if (s.prompt.size() + ct.size() > static_cast<size_t>(cells)) {
      return make_error(ErrorCode::kResource,
                        fmt::format("prompt and option {} ({} tokens) exceed the context of {}",
                                    letter, s.prompt.size() + ct.size(), cells));
    }
    OptionScore sc;
    sc.letter = letter;
    sc.tokens = static_cast<int64_t>(ct.size());
    s.out.options.push_back(sc);
    s.conts.push_back(std::move(ct));
  }
  return s;
}

// The prompt and prefix are evaluated once, in the sequence that holds most of them; each
// option's continuation then goes into a sequence of its own holding a copy of that prefix
// (several options per llama_decode, as many as the context has sequences) when the KV is one
// pool (a copy shares cells), or follows the prefix in its own sequence, one option after
// another, with per-sequence KV.
Result<LoglikScores> LlamaLoglik::score_alone(Clock::time_point t0, const LoglikRequest& req) {
  auto prepared = prepare(req);
  if (!prepared) return std::unexpected(prepared.error());
  Scoring& s = *prepared;
  s.seq = best_sequence(s.prompt, std::vector<bool>(held_.size(), false));
  // One pool for all sequences: what the others hold (earlier prompts and options) would take
  // the cells this item's options need.
  if (engine_.unified()) {
    for (int q = 0; q < engine_.n_seq(); ++q) {
      if (q == s.seq) continue;
      engine_.truncate(q, 0);
      held_[static_cast<size_t>(q)].clear();
    }
  }
  const int kept = keep_prefix(s);
  if (auto r = engine_.decode_run({s.prompt.begin() + kept, s.prompt.end()}, kept, s.seq); !r) {
    return fail(r.error());
  }
  held_[static_cast<size_t>(s.seq)] = s.prompt;
  score_first_tokens(llama_get_logits_ith(ctx_, -1), s);
  s.out.prefill_ms = ms_since(t0);
  if (auto r = score_continuations(s.seq, s); !r) return fail(r.error());
  s.out.continuation_ms = ms_since(t0) - s.out.prefill_ms;
  return std::move(s.out);
}

std::vector<Result<LoglikScores>> LlamaLoglik::score_group(
    const std::vector<LoglikRequest>& group) {
  const auto t0 = Clock::now();
  std::vector<Result<LoglikScores>> results(group.size(), LoglikScores{});
  std::vector<Scoring> items;
  std::vector<bool> taken(held_.size(), false);
  for (size_t i = 0; i < group.size(); ++i) {
    auto prepared = prepare(group[i]);
    if (!prepared) {
      results[i] = std::unexpected(prepared.error());
      continue;
    }
    prepared->index = i;
    prepared->seq = best_sequence(prepared->prompt, taken);
    taken[static_cast<size_t>(prepared->seq)] = true;
    items.push_back(std::move(*prepared));
  }
  // In sequence order: with per-sequence KV llama.cpp splits a batch into micro-batches of
  // consecutive sequence ids, so tokens in any other order would go in more, smaller ones.
  std::sort(items.begin(), items.end(),
            [](const Scoring& a, const Scoring& b) { return a.seq < b.seq; });
  auto r = prefill_group(items);
  const double prefill_ms = ms_since(t0);
  if (r) r = continue_group(items);
  const double continuation_ms = ms_since(t0) - prefill_ms;
  if (!r) fail(r.error());
  const auto t_end = Clock::now();
  for (auto& s : items) {
    std::optional<double> joules;
    if (ledger_) joules = ledger_->settle(unit_of(s.index), t_end);
    if (!r) {
      results[s.index] = std::unexpected(r.error());
      continue;
    }
    s.out.prefill_ms = prefill_ms;
    s.out.continuation_ms = continuation_ms;
    s.out.batch_width = static_cast<int>(items.size());
    s.out.energy_j = joules;
    results[s.index] = std::move(s.out);
  }
  if (ledger_) ledger_->pause(t_end);
  return results;
}

// The free sequence whose KV holds the longest prefix of toks (the lowest on a tie).
int LlamaLoglik::best_sequence(const std::vector<llama_token>& toks,
                               const std::vector<bool>& taken) const {
  int best = -1;
  size_t best_len = 0;
  for (size_t q = 0; q < held_.size(); ++q) {
    if (taken[q]) continue;
    const size_t len = common_prefix(held_[q], toks);
    if (best < 0 || len > best_len) {
      best = static_cast<int>(q);
      best_len = len;
    }
  }
  return std::max(best, 0);
}

int LlamaLoglik::keep_prefix(const Scoring& s) {
  auto& held = held_[static_cast<size_t>(s.seq)];
  int kept = static_cast<int>(std::min(common_prefix(held, s.prompt), s.prompt.size() - 1));
  if (!engine_.truncate(s.seq, kept)) kept = 0;
  held.resize(static_cast<size_t>(kept));
  stats_.prompt_tokens_reused += kept;
  return kept;
}

template <typename Read>
Result<void> LlamaLoglik::decode_chunks(const std::vector<BatchToken>& entries,
                                        const std::vector<size_t>& owner, Read read) {
  const auto n_batch = static_cast<size_t>(engine_.n_batch());
  for (size_t i = 0; i < entries.size(); i += n_batch) {
    const size_t n = std::min(n_batch, entries.size() - i);
    const std::vector<BatchToken> chunk(entries.begin() + static_cast<std::ptrdiff_t>(i),
                                        entries.begin() + static_cast<std::ptrdiff_t>(i + n));
    if (ledger_) {
      std::vector<std::pair<uint64_t, int64_t>> shares;
      for (size_t k = i; k < i + n; ++k) {
        const uint64_t u = unit_of(owner[k]);
        if (shares.empty() || shares.back().first != u) shares.emplace_back(u, 0);
        shares.back().second++;
      }
      ledger_->step(Clock::now(), shares);
    }
    if (auto r = engine_.decode(chunk); !r) return r;
    for (size_t k = 0; k < n; ++k) {
      if (chunk[k].logits) read(i + k, llama_get_logits_ith(ctx_, static_cast<int32_t>(k)));
    }
  }
  return {};
}

// A group's prompts share their chat header and system prompt (a few-shot block, when there is
// one). A sequence that holds it from an earlier item keeps it (keep_prefix); the first group
// would compute it once per sequence, so it is computed once, in the sequence holding most of
// it, and copied: a copy of a sequence's KV costs far less than computing tens of tokens again.
Result<void> LlamaLoglik::share_group_prefix(std::vector<Scoring>& items, std::vector<int>& kept) {
  if (items.size() < 2) return {};
  size_t shared = items[0].prompt.size() - 1;
  for (const auto& s : items) {
    shared = std::min({shared, common_prefix(items[0].prompt, s.prompt), s.prompt.size() - 1});
  }
  const auto need = [&](size_t k) {
    return static_cast<size_t>(kept[k]) + kMinSharedPrefix <= shared;
  };
  size_t leader = 0;
  size_t needing = 0;
  for (size_t k = 0; k < items.size(); ++k) {
    if (kept[k] > kept[leader]) leader = k;
    needing += need(k);
  }
  if (needing == 0) return {};
  Scoring& l = items[leader];
  if (static_cast<size_t>(kept[leader]) < shared) {
    std::vector<BatchToken> entries;
    for (size_t p = static_cast<size_t>(kept[leader]); p < shared; ++p) {
      entries.push_back({l.prompt[p], static_cast<int32_t>(p), l.seq, false});
    }
    const std::vector<size_t> owner(entries.size(), l.index);
    if (auto r = decode_chunks(entries, owner, [](size_t, const float*) {}); !r) return r;
    kept[leader] = static_cast<int>(shared);
    held_[static_cast<size_t>(l.seq)].assign(
        l.prompt.begin(), l.prompt.begin() + static_cast<std::ptrdiff_t>(shared));
  }
  for (size_t k = 0; k < items.size(); ++k) {
    if (k == leader || !need(k)) continue;
    engine_.copy_prefix(l.seq, items[k].seq, static_cast<int>(shared));
    // The leader may hold more than the shared prefix (its own prompt, from an earlier group).
    const auto& from = held_[static_cast<size_t>(l.seq)];
    held_[static_cast<size_t>(items[k].seq)].assign(
        from.begin(), from.begin() + static_cast<std::ptrdiff_t>(shared));
    stats_.prompt_tokens_reused += static_cast<int64_t>(shared) - kept[k];
    kept[k] = static_cast<int>(shared);
  }
  return {};
}

// Every item's prompt after what its sequence already holds, in one batch (n_batch at a time);
// the options' first tokens from the logits of each prompt's last token.
Result<void> LlamaLoglik::prefill_group(std::vector<Scoring>& items) {
  std::vector<int> kept;
  for (const auto& s : items) kept.push_back(keep_prefix(s));
  if (auto r = share_group_prefix(items, kept); !r) return r;
  std::vector<BatchToken> entries;
  std::vector<size_t> owner;    // per entry: its item's index in the group
  std::vector<size_t> item_of;  // per entry: its place in items
  for (size_t k = 0; k < items.size(); ++k) {
    const Scoring& s = items[k];
    for (size_t p = static_cast<size_t>(kept[k]); p < s.prompt.size(); ++p) {
      entries.push_back({s.prompt[p], static_cast<int32_t>(p), s.seq, p + 1 == s.prompt.size()});
      owner.push_back(s.index);
      item_of.push_back(k);
    }
  }
  auto r = decode_chunks(entries, owner, [&](size_t e, const float* row) {
    score_first_tokens(row, items[item_of[e]]);
  });
  if (!r) return r;
  for (const auto& s : items) held_[static_cast<size_t>(s.seq)] = s.prompt;
  return {};
}

// The options' tokens after the first: round j decodes every item's option j after its prompt,
// in the item's own sequence (cut back to the prompt first).
Result<void> LlamaLoglik::continue_group(std::vector<Scoring>& items) {
  const int n_vocab = llama_vocab_n_tokens(chat_.vocab());
  size_t rounds = 0;
  for (const auto& s : items) rounds = std::max(rounds, s.conts.size());
  for (size_t j = 0; j < rounds; ++j) {
    std::vector<BatchToken> entries;
    std::vector<size_t> owner;
    std::vector<std::pair<Scoring*, llama_token>> next;  // per entry: item, token scored
    for (auto& s : items) {
      if (j >= s.conts.size()) continue;
      const auto n_prefix = static_cast<int32_t>(s.prompt.size());
      engine_.truncate(s.seq, n_prefix);
      const auto& ct = s.conts[j];
      for (size_t i = 0; i + 1 < ct.size(); ++i) {
        entries.push_back({ct[i], n_prefix + static_cast<int32_t>(i), s.seq, true});
        owner.push_back(s.index);
        next.emplace_back(&s, ct[i + 1]);
      }
    }
    auto r = decode_chunks(entries, owner, [&](size_t e, const float* row) {
      auto& [s, tok] = next[e];
      s->out.options[j].logprob += static_cast<double>(row[tok]) - log_sum_exp(row, n_vocab);
    });
    if (!r) return r;
  }
  return {};
}

void LlamaLoglik::score_first_tokens(const float* row, Scoring& s) const {
  const int n_vocab = llama_vocab_n_tokens(chat_.vocab());
  const double lse = log_sum_exp(row, n_vocab);
  for (size_t o = 0; o < s.conts.size(); ++o) {
    s.out.options[o].logprob += static_cast<double>(row[s.conts[o][0]]) - lse;
  }
}

// The options' tokens after the first, as many options per round as there are sequences:
// `prefix_seq` and the others, each holding a copy of the prefix.
Result<void> LlamaLoglik::score_continuations(int prefix_seq, Scoring& s) {
  std::vector<int> seqs{prefix_seq};
  // With per-sequence KV a copy moves the whole stream (every cell of the sequence's share), and
  // one option after another in the prefix's own sequence measured faster: 806 ms against 889
  // ms per item (30 MMLU items, llama-300m q4_0, 8 sequences of 4096 cells, 2 cores).
  for (int q = 0; q < engine_.n_seq() && engine_.unified(); ++q) {
    if (q != prefix_seq) seqs.push_back(q);
  }
  const int n_vocab = llama_vocab_n_tokens(chat_.vocab());
  const auto n_prefix = static_cast<int>(s.prompt.size());
  const auto& conts = s.conts;
  for (size_t start = 0; start < conts.size(); start += seqs.size()) {
    const size_t end = std::min(conts.size(), start + seqs.size());
    std::vector<BatchToken> entries;
    std::vector<std::pair<size_t, llama_token>> next;  // per entry: option, token scored
    for (size_t o = start; o < end; ++o) {
      const int q = seqs[o - start];
      if (q == prefix_seq) {
        engine_.truncate(q, n_prefix);
      } else {
        engine_.copy_prefix(prefix_seq, q, n_prefix);
        held_[static_cast<size_t>(q)] = held_[static_cast<size_t>(prefix_seq)];
      }
      const auto& ct = conts[o];
      for (size_t i = 0; i + 1 < ct.size(); ++i) {
        entries.push_back({ct[i], n_prefix + static_cast<int32_t>(i), q, true});
        next.emplace_back(o, ct[i + 1]);
      }
    }
    const std::vector<size_t> owner(entries.size(), s.index);
    auto r = decode_chunks(entries, owner, [&](size_t e, const float* row) {
      const auto& [o, tok] = next[e];
      s.out.options[o].logprob += static_cast<double>(row[tok]) - log_sum_exp(row, n_vocab);
    });
    if (!r) return r;
  }
  return {};
}

std::unexpected<Error> LlamaLoglik::fail(const Error& e) {
  engine_.clear();
  for (auto& h : held_) h.clear();
  return std::unexpected(e);
}

}  // namespace clinbench
