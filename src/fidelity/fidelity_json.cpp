// fidelity.json, sensitivity.json and tokenizer_check.json (docs/fidelity.md), and the tables
// printed on stdout.
#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "clinbench/attempt.h"
#include "clinbench/fidelity.h"
#include "clinbench/units.h"
#include "util/atomic_file.h"

namespace clinbench {

namespace {

using json = nlohmann::json;

json opt(const std::optional<bool>& v) { return v ? json(*v) : json(nullptr); }

// The model as given, with the adapters it loaded as check_adapter read them (`use`).
json model_json(const FidelityModel& m, const ModelUse& use) {
  json adapters = json::array();
  for (const auto& a : use.adapters) adapters.push_back(to_json(a));
  return {{"label", m.label},
          {"path", m.path},
          {"strategy", to_string(m.strategy)},
          {"recipe", is_quantize(m.strategy) ? json(m.recipe) : json(nullptr)},
          {"adapters", adapters}};
}

json to_json(const ModelUse& u) {
  json types = json::array();
  for (const auto& t : u.tensor_types) {
    types.push_back(
        {{"type", t.type}, {"tensors", t.tensors}, {"elements", t.elements}, {"bytes", t.bytes}});
  }
  return {{"weight_bytes", u.weight_bytes},
          {"adapter_bytes", u.adapter_bytes},
          {"bits_per_weight", u.bits_per_weight},
          {"tensor_types", types},
          {"peak_rss_bytes", u.peak_rss_bytes ? json(*u.peak_rss_bytes) : json(nullptr)},
          {"load_ms", u.load_ms},
          {"eval_ms", u.eval_ms},
          {"eval_tokens", u.eval_tokens},
          {"eval_tokens_per_s", u.eval_tokens_per_s},
          {"decode_tokens", u.decode_tokens},
          {"decode_tokens_per_s", u.decode_tokens_per_s}};
}

json to_json(const ItemFidelity& f) {
  json ref = json::object(), cand = json::object();
  for (size_t i = 0; i < f.letters.size(); ++i) {
    ref[f.letters[i]] = f.reference_probs[i];
    cand[f.letters[i]] = f.candidate_probs[i];
  }
  return {{"id", f.id},
          {"answer", f.answer ? json(*f.answer) : json(nullptr)},
          {"reference_probs", ref},
          {"candidate_probs", cand},
          {"reference_choice", f.reference_choice},
          {"candidate_choice", f.candidate_choice},
          {"reference_correct", opt(f.reference_correct)},
          {"candidate_correct", opt(f.candidate_correct)},
          {"answer_kl", f.answer_kl},
          {"top1_agree", f.top1_agree},
          {"flipped", !f.top1_agree},
          {"trace_tokens", f.trace_tokens},
          {"trace_kl_mean", f.trace_kl_mean},
          {"trace_top1_rate", f.trace_top1_rate},
          {"prompt_tokens_match", f.prompt_tokens_match}};
}

json to_json(const AccuracySummary& a) {
  return {
      {"items", a.items},
      {"labeled", a.labeled},
      {"correct", a.correct},
      {"accuracy", a.accuracy ? json(*a.accuracy) : json(nullptr)},
      {"interval", a.interval ? json::array({a.interval->low, a.interval->high}) : json(nullptr)}};
}

json to_json(const CandidateResult& c) {
  json items = json::array();
  for (const auto& f : c.items) items.push_back(to_json(f));
  return {{"model", model_json(c.model, c.use)},
          {"use", to_json(c.use)},
          {"summary",
           {{"items", c.items.size()},
            {"answer_kl_mean", c.kl_mean},
            {"answer_kl_median", c.kl_median},
            {"answer_kl_p99", c.kl_p99},
            {"answer_kl_max", c.kl_max},
            {"trace_kl_mean", c.trace_kl_mean},
            {"trace_top1_rate", c.trace_top1_rate},
            {"top1_agreement", c.top1_agreement},
            {"flip_rate", c.flip_rate},
            {"flipped", c.flipped},
            {"prompt_token_mismatches", c.prompt_token_mismatches},
            {"reference_accuracy", to_json(c.reference_accuracy)},
            {"candidate_accuracy", to_json(c.candidate_accuracy)},
            {"mcnemar",
             {{"pairs", c.mcnemar.pairs},
              {"both_correct", c.mcnemar.both_correct},
              {"both_wrong", c.mcnemar.both_wrong},
              {"only_reference", c.mcnemar.only_a},
              {"only_candidate", c.mcnemar.only_b},
              {"p_value", c.mcnemar.p_value}}}}},
          {"items", items}};
}

// {"model", "use"} of a report's reference.
template <typename Report>
json reference_json(const Report& r) {
  return {{"model", model_json(r.reference, r.reference_use)}, {"use", to_json(r.reference_use)}};
}

json skipped_json(const std::vector<SkippedItem>& skipped) {
  json a = json::array();
  for (const auto& s : skipped) a.push_back({{"id", s.id}, {"reason", s.reason}});
  return a;
}

json options_json(const FidelityOptions& o) {
  return {{"trace_tokens", o.trace_tokens},
          {"n_ctx", o.n_ctx},
          {"n_threads", o.n_threads},
          {"system_prompt", o.prompts.system},
          {"multi_choice_instruction", o.prompts.multi_choice_instruction}};
}

json build_json() {
  return {{"clinbench_version", CLINBENCH_VERSION},
          {"clinbench_commit", CLINBENCH_GIT_COMMIT},
          {"llama_cpp_commit", CLINBENCH_LLAMA_COMMIT}};
}

std::string pct(double v) { return fmt::format("{:.1f}%", 100 * v); }

std::string accuracy_text(const AccuracySummary& a) {
  return a.accuracy ? fmt::format("{} ({}/{})", pct(*a.accuracy), a.correct, a.labeled) : "-";
}

// "adapter on LABEL: FILE (scale S, rank R, alpha A, N tensors, SIZE, sha256 PREFIX)".
std::string adapter_line(const std::string& label, const AdapterInfo& a) {
  return fmt::format("adapter on {}: {} (scale {}, rank {}, alpha {}, {} tensors, {}, sha256 {})\n",
                     label, a.path, a.scale, a.rank, a.alpha, a.targets.size(),
                     format_bytes(a.bytes), a.sha256.substr(0, 12));
}

}  // namespace

json to_json(const FidelityReport& r) {
  json cands = json::array();
  for (const auto& c : r.candidates) cands.push_back(to_json(c));
  return {{"format", kFidelityFormat},
          {"build", build_json()},
          {"dataset", r.dataset},
          {"items", r.items},
          {"skipped", skipped_json(r.skipped)},
          {"options", options_json(r.options)},
          {"reference", reference_json(r)},
          {"candidates", cands}};
}

json to_json(const SensitivityReport& r) {
  json ranking = json::array();
  for (size_t i = 0; i < r.ranking.size(); ++i) {
    const auto& g = r.ranking[i];
    ranking.push_back({{"rank", i + 1},
                       {"group", g.group.name},
                       {"pattern", g.group.pattern},
                       {"tensors", g.group.tensors},
                       {"elements", g.group.elements},
                       {"bytes_reference", g.bytes_reference},
                       {"bytes_low", g.bytes_low},
                       {"bytes_high", g.bytes_high},
                       {"answer_kl_mean", g.kl_mean},
                       {"answer_kl_p99", g.kl_p99},
                       {"trace_kl_mean", g.trace_kl_mean},
                       {"flips", g.flips}});
  }
  auto m = [](const RecipeMeasurement& x) -> json {
    return {{"name", x.name},
            {"path", x.path},
            {"weight_bytes", x.weight_bytes},
            {"bits_per_weight", x.bits_per_weight},
            {"answer_kl_mean", x.kl_mean},
            {"answer_kl_p99", x.kl_p99},
            {"trace_kl_mean", x.trace_kl_mean},
            {"flips", x.flips}};
  };
  json measured = json::array();
  for (const auto& x : r.measured) measured.push_back(m(x));
  return {{"format", "clinbench.sensitivity/1"},
          {"build", build_json()},
          {"dataset", r.dataset},
          {"items", r.items},
          {"skipped", skipped_json(r.skipped)},
          {"reference", reference_json(r)},
          {"low_type", r.low_type},
          {"high_type", r.high_type},
          {"ranking", ranking},
          {"target_bytes", r.target_bytes},
          {"target_bits_per_weight", r.target_bpw},
          {"measured", measured},
          {"chosen", m(r.chosen)},
          {"uniform", m(r.uniform)},
          {"recipe_path", r.recipe_path},
          {"ms", r.ms}};
}

json to_json(const TokenizerCheck& c) {
  json diffs = json::array();
  for (const auto& d : c.differences) {
    diffs.push_back({{"what", d.what}, {"where", d.where}, {"a", d.a}, {"b", d.b}});
  }
  return {{"format", "clinbench.tokenizer_check/1"},
          {"a", c.path_a},
          {"b", c.path_b},
          {"n_vocab_a", c.n_vocab_a},
          {"n_vocab_b", c.n_vocab_b},
          {"items_checked", c.items_checked},
          {"same", c.same()},
          {"differences", diffs}};
}

std::string format_fidelity(const FidelityReport& r) {
  std::ostringstream out;
  out << fmt::format("reference {} ({}), {} items of {}{}\n", r.reference.label,
                     format_bytes(r.reference_use.weight_bytes), r.items, r.dataset,
                     r.skipped.empty() ? "" : fmt::format(", {} skipped", r.skipped.size()));
  out << fmt::format(
      "{:<28} {:>10} {:>6} {:>9} {:>9} {:>9} {:>7} {:>7} {:>15} {:>15} {:>8} "
      "{:>10} {:>9}\n",
      "candidate", "weights", "bpw", "KL mean", "KL p99", "trace KL", "top-1", "flips", "acc ref",
      "acc cand", "McNemar", "peak RSS", "tok/s");
  for (const auto& c : r.candidates) {
    out << fmt::format(
        "{:<28} {:>10} {:>6.2f} {:>9.4g} {:>9.4g} {:>9.4g} {:>7} {:>7} {:>15} {:>15} {:>8.3g} "
        "{:>10} {:>9.0f}\n",
        c.model.label, format_bytes(c.use.weight_bytes), c.use.bits_per_weight, c.kl_mean, c.kl_p99,
        c.trace_kl_mean, pct(c.trace_top1_rate),
        fmt::format("{}/{}", c.flipped.size(), c.items.size()), accuracy_text(c.reference_accuracy),
        accuracy_text(c.candidate_accuracy), c.mcnemar.p_value,
        c.use.peak_rss_bytes ? format_bytes(*c.use.peak_rss_bytes) : "-", c.use.eval_tokens_per_s);
  }
  for (const auto& a : r.reference_use.adapters) {
    out << adapter_line(r.reference.label, a);
  }
  for (const auto& c : r.candidates) {
    for (const auto& a : c.use.adapters) out << adapter_line(c.model.label, a);
  }
  for (const auto& c : r.candidates) {
    if (!c.flipped.empty()) {
      std::string ids;
      for (const auto& id : c.flipped) ids += (ids.empty() ? "" : ", ") + id;
      out << fmt::format("flipped by {}: {}\n", c.model.label, ids);
    }
    if (c.prompt_token_mismatches > 0) {
      out << fmt::format(
          "warning: {} tokenizes {} items' prompts otherwise than the reference "
          "(see clinbench fidelity --tokenizer)\n",
          c.model.label, c.prompt_token_mismatches);
    }
  }
  return out.str();
}

std::string format_sensitivity(const SensitivityReport& r) {
  std::ostringstream out;
  out << fmt::format("sensitivity of {} to {} on {} items of {} ({} groups, {:.1f} s)\n",
                     r.reference.path, r.low_type, r.items, r.dataset, r.ranking.size(),
                     r.ms / 1000);
  out << fmt::format("{:>4} {:<24} {:>10} {:>10} {:>9} {:>9} {:>6}\n", "rank", "group", "bytes",
                     "at low", "KL mean", "trace KL", "flips");
  for (size_t i = 0; i < r.ranking.size(); ++i) {
    const auto& g = r.ranking[i];
    out << fmt::format("{:>4} {:<24} {:>10} {:>10} {:>9.4g} {:>9.4g} {:>6}\n", i + 1, g.group.name,
                       g.bytes_reference, g.bytes_low, g.kl_mean, g.trace_kl_mean, g.flips);
  }
  out << fmt::format("target {} ({:.3f} bits per weight)\n", format_bytes(r.target_bytes),
                     r.target_bpw);
  out << fmt::format("{:<40} {:>10} {:>6} {:>9} {:>9} {:>6}\n", "recipe", "weights", "bpw",
                     "KL mean", "trace KL", "flips");
  for (const auto& m : r.measured) {
    out << fmt::format("{:<40} {:>10} {:>6.2f} {:>9.4g} {:>9.4g} {:>6}{}\n", m.name,
                       format_bytes(m.weight_bytes), m.bits_per_weight, m.kl_mean, m.trace_kl_mean,
                       m.flips, m.name == r.chosen.name ? "  <- chosen" : "");
  }
  out << fmt::format("recipe written to {}: mean answer KL {:.4g} vs {:.4g} for {}\n",
                     r.recipe_path, r.chosen.kl_mean, r.uniform.kl_mean, r.uniform.name);
  return out.str();
}

std::string format_tokenizer_check(const TokenizerCheck& c) {
  std::ostringstream out;
  out << fmt::format("{} ({} tokens) vs {} ({} tokens), {} items: {}\n", c.path_a, c.n_vocab_a,
                     c.path_b, c.n_vocab_b, c.items_checked,
                     c.same() ? "same tokenizer, template and item tokens"
                              : fmt::format("{} differences", c.differences.size()));
  // Every difference is in the JSON; the table shows the first few of each kind.
  constexpr size_t kShown = 20;
  std::map<std::string, size_t> seen;
  for (const auto& d : c.differences) {
    if (++seen[d.what] > kShown) continue;
    std::string a = d.a, b = d.b;
    if (d.what == "chat_template") {
      a = fmt::format("{} characters", d.a.size());
      b = fmt::format("{} characters", d.b.size());
    }
    out << fmt::format("  {} {}: {} | {}\n", d.what, d.where, a, b);
  }
  for (const auto& [what, n] : seen) {
    if (n > kShown)
      out << fmt::format("  ... {} more {} differences (all in the JSON)\n", n - kShown, what);
  }
  return out.str();
}

Result<void> write_fidelity_json(const std::string& dir, const std::string& name, const json& doc) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return make_error(ErrorCode::kIo, fmt::format("{}: cannot create: {}", dir, ec.message()));
  return write_file_atomically(std::filesystem::path(dir) / name,
                               doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
}

}  // namespace clinbench
