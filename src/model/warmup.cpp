#include "model/warmup.h"

#include <fmt/format.h>
#include <llama.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "model/adapter_load.h"
#include "model/llama_chat.h"

namespace clinbench {

const std::vector<std::string>& clinical_round_trip_strings() {
  static const std::vector<std::string> s = {
      "Metformin 500 mg twice daily with meals",
      "Norepinephrine 0.05 µg/kg/min titrated to MAP ≥ 65 mmHg",
      "α-blocker, β₂-agonist and γ-glutamyl transferase",
      "Dr. Müller reviewed Zoë Ångström's chart in São Paulo",
      "HbA1c 7.2% (55 mmol/mol); eGFR 48 mL/min/1.73 m²",
      "Acetylsalicylic acid 81 mg p.o. q.d.; ceftriaxone 1 g IV q24h",
      "T° 38.5 °C, IL-6 > 40 pg/mL, CRP ≥ 10 mg/L",
      "Warfarin — INR target 2.0–3.0 ± 0.5",
  };
  return s;
}

bool greedy_generate(llama_model* model, llama_context* ctx, const std::string& prompt,
                     int n_predict, std::string* text, std::vector<int>* tokens,
                     bool* logits_finite, std::string* error) {
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const int n_vocab = llama_vocab_n_tokens(vocab);
  std::vector<llama_token> toks = tokenize_text(vocab, prompt, true, false);
  if (toks.empty()) {
    *error = "prompt tokenized to nothing";
    return false;
  }
  if (static_cast<uint32_t>(toks.size() + n_predict) > llama_n_ctx_seq(ctx)) {
    *error = fmt::format("prompt of {} tokens plus {} to generate exceeds the context of {}",
                         toks.size(), n_predict, llama_n_ctx_seq(ctx));
    return false;
  }
  llama_memory_clear(llama_get_memory(ctx), true);
  *logits_finite = true;
  llama_batch batch = llama_batch_get_one(toks.data(), static_cast<int32_t>(toks.size()));
  llama_token next = 0;
  for (int i = 0; i < n_predict; ++i) {
    if (llama_decode(ctx, batch) != 0) {
      *error = fmt::format("llama_decode failed at step {}", i);
      return false;
    }
    const float* logits = llama_get_logits_ith(ctx, -1);
    int best = 0;
    for (int v = 0; v < n_vocab; ++v) {
      if (!std::isfinite(logits[v])) {
        *logits_finite = false;
        *error = fmt::format("non-finite logit for token {} at step {}", v, i);
        return false;
      }
      if (logits[v] > logits[best]) best = v;
    }
    next = best;
    if (llama_vocab_is_eog(vocab, next)) break;
    tokens->push_back(next);
    *text += token_piece(vocab, next, false);
    batch = llama_batch_get_one(&next, 1);
  }
  return true;
}

WarmupReport run_warmup(llama_model* model, llama_context* ctx, const WarmupOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  WarmupReport r;
  r.ran = true;
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const int n_vocab = llama_vocab_n_tokens(vocab);

  // 1. Tokenizer round-trip. SentencePiece vocabularies add a leading space; that is no loss.
  for (const auto& s : clinical_round_trip_strings()) {
    RoundTrip rt;
    rt.text = s;
    auto toks = tokenize_text(vocab, s, false, false);
    rt.n_tokens = static_cast<int>(toks.size());
    std::string back = detokenize_text(vocab, toks, false, false);
    if (!back.empty() && back[0] == ' ' && s[0] != ' ') back.erase(0, 1);
    rt.ok = back == s;
    if (!rt.ok) {
      rt.got = back;
      r.warnings.push_back(fmt::format("tokenizer round-trip changed \"{}\" into \"{}\"", s, back));
    }
    r.round_trips.push_back(std::move(rt));
  }

  // 2. BOS/EOS and the chat template.
  r.bos = llama_vocab_bos(vocab);
  r.eos = llama_vocab_eos(vocab);
  r.add_bos = llama_vocab_get_add_bos(vocab);
  if (r.eos < 0 || r.eos >= n_vocab || !llama_vocab_is_eog(vocab, r.eos)) {
    r.failures.push_back(fmt::format("no usable end-of-sequence token (eos = {})", r.eos));
  }
  if (r.add_bos && (r.bos < 0 || r.bos >= n_vocab)) {
    r.failures.push_back(fmt::format("the vocabulary asks for a BOS token but bos = {}", r.bos));
  }
  const LlamaChat chat(model);
  r.chat_template_present = chat.has_template();
  const std::string sys = "You are a careful clinical assistant.";
  const std::string user = "Which drug class does metformin belong to?";
  // A template that does not parse is a failure here, though prompts would fall back to chatml.
  if (!chat.template_error().empty()) {
    r.failures.push_back(fmt::format("chat template failed to render: {}", chat.template_error()));
  } else if (auto rendered = chat.render({{"system", sys}, {"user", user}}); !rendered) {
    r.failures.push_back(rendered.error().message);
  } else {
    r.chat_rendered = std::move(*rendered);
    r.chat_template_ok = r.chat_rendered.find(sys) != std::string::npos &&
                         r.chat_rendered.find(user) != std::string::npos;
    if (!r.chat_template_ok) {
      r.failures.push_back("the chat template's rendering lacks the system or user message");
    }
  }
  if (!r.chat_template_present) {
    r.warnings.push_back("the model has no chat template; prompts use the ChatML fallback");
  }
  if (r.chat_template_ok && r.add_bos && r.bos >= 0) {
    const std::string bos_text = token_piece(vocab, r.bos, false);
    if (!bos_text.empty() && r.chat_rendered.rfind(bos_text, 0) == 0) {
      r.warnings.push_back(
          "the chat template writes the BOS token and the tokenizer adds one too: prompts "
          "would start with two BOS tokens unless special tokens are not added");
    }
  }

  // 3. One short greedy generation.
  std::string error;
  if (!greedy_generate(model, ctx, options.prompt, options.n_predict, &r.generation,
                       &r.generated_tokens, &r.logits_finite, &error)) {
    r.failures.push_back("greedy generation: " + error);
  } else if (r.generated_tokens.empty()) {
    r.failures.push_back("greedy generation produced no token before end-of-sequence");
  }
  r.passed = r.failures.empty();
  r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

namespace {

// The next-token logits after `toks`, from a cleared memory; empty when the decode failed.
std::vector<float> prompt_logits(llama_context* ctx, std::vector<llama_token> toks, int n_vocab) {
  llama_memory_clear(llama_get_memory(ctx), true);
  llama_batch batch = llama_batch_get_one(toks.data(), static_cast<int32_t>(toks.size()));
  if (llama_decode(ctx, batch) != 0) return {};
  const float* logits = llama_get_logits_ith(ctx, -1);
  return {logits, logits + n_vocab};
}

}  // namespace

void check_adapters_change_logits(llama_model* model, llama_context* ctx, const std::string& prompt,
                                  const std::vector<AdapterSpec>& specs, LoadedAdapters& adapters,
                                  WarmupReport& report) {
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const int n_vocab = llama_vocab_n_tokens(vocab);
  const std::vector<llama_token> toks = tokenize_text(vocab, prompt, true, false);
  auto fail = [&](const std::string& why) {
    report.failures.push_back(why);
    report.passed = false;
  };
  if (toks.empty() || toks.size() > llama_n_ctx_seq(ctx)) {
    fail("adapter check: the warm-up prompt does not fit the context");
    return;
  }
  if (auto r = adapters.none(ctx); !r) return fail(r.error().message);
  const std::vector<float> base = prompt_logits(ctx, toks, n_vocab);
  if (base.empty()) return fail("adapter check: llama_decode failed on the base model");
  for (size_t i = 0; i < adapters.size(); ++i) {
    if (auto r = adapters.apply(ctx, static_cast<int>(i)); !r) return fail(r.error().message);
    const std::vector<float> with = prompt_logits(ctx, toks, n_vocab);
    if (with.empty()) return fail("adapter check: llama_decode failed with " + specs[i].path);
    double delta = 0;
    for (int v = 0; v < n_vocab; ++v) {
      delta = std::max(delta, std::abs(static_cast<double>(with[v]) - base[v]));
    }
    report.adapter_logit_delta.push_back(delta);
    if (!(delta >= kAdapterMinLogitDelta)) {
      fail(
          fmt::format("adapter {} changes no logit of the warm-up prompt (largest change {:g}): "
                      "a zero adapter (lora_b all zero, as PEFT initialises it) or a scale of 0",
                      specs[i].path, delta));
    }
  }
  if (auto r = adapters.apply(ctx); !r) fail(r.error().message);
}

}  // namespace clinbench
