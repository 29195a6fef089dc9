#include "backend/llama_probe.h"

#include <fmt/format.h>
#include <llama-cpp.h>
#include <llama.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "model/backend_init.h"
#include "model/llama_chat.h"
#include "model/llama_log.h"

namespace clinbench {

struct LlamaProbe::Owned {
  llama_model_ptr model;
};

LlamaProbe::LlamaProbe(llama_model* model, llama_context* ctx)
    : model_(model), ctx_(ctx), chat_(std::make_unique<LlamaChat>(model)) {}

LlamaProbe::~LlamaProbe() {
  chat_.reset();  // before the model it points into
}

Result<std::unique_ptr<LlamaProbe>> LlamaProbe::open_vocab(const std::string& path) {
  ensure_llama_backend();
  llama_model_params mp = llama_model_default_params();
  mp.vocab_only = true;
  mp.n_gpu_layers = 0;
  LogCapture capture;
  llama_model_ptr model(llama_model_load_from_file(path.c_str(), mp));
  if (!model) {
    return make_error(ErrorCode::kCorrupt, fmt::format("{}: llama.cpp could not read the "
                                                       "vocabulary: {}",
                                                       path, capture.errors()));
  }
  auto owned = std::make_unique<Owned>();
  owned->model = std::move(model);
  auto probe = std::make_unique<LlamaProbe>(owned->model.get(), nullptr);
  probe->owned_ = std::move(owned);
  return probe;
}

int LlamaProbe::n_vocab() const { return llama_vocab_n_tokens(chat_->vocab()); }

Result<std::vector<int32_t>> LlamaProbe::prompt_tokens(const std::vector<ChatMessage>& messages,
                                                       const std::string& assistant_prefix) const {
  auto text = chat_->render(messages);
  if (!text) return std::unexpected(text.error());
  return chat_->tokenize_prompt(*text + assistant_prefix);
}

std::vector<int32_t> LlamaProbe::tokenize(const std::string& text) const {
  return chat_->tokenize(text, false, false);
}

std::string LlamaProbe::piece(int32_t token) const { return chat_->piece(token, true); }

bool LlamaProbe::is_end_of_generation(int32_t token) const {
  return llama_vocab_is_eog(chat_->vocab(), token);
}

namespace {

// Log-softmax of one row of logits, in place.
void log_softmax_row(float* row, int n) {
  const float mx = *std::max_element(row, row + n);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(static_cast<double>(row[i] - mx));
  const float lse = mx + static_cast<float>(std::log(sum));
  for (int i = 0; i < n; ++i) row[i] -= lse;
}

}  // namespace

Result<std::vector<int32_t>> LlamaProbe::greedy(const std::vector<int32_t>& prompt,
                                                int max_tokens) {
  if (ctx_ == nullptr) return make_error(ErrorCode::kInternal, "vocabulary-only model");
  const int n_ctx = static_cast<int>(llama_n_ctx(ctx_));
  if (static_cast<int>(prompt.size()) + max_tokens > n_ctx) {
    return make_error(ErrorCode::kResource,
                      fmt::format("prompt of {} tokens plus {} to generate exceeds the context of "
                                  "{}",
                                  prompt.size(), max_tokens, n_ctx));
  }
  // The prompt through log_probs' batching (last position's logits only), then one token a step.
  auto first = log_probs(prompt, prompt.size() - 1);
  if (!first) return std::unexpected(first.error());
  const int nv = n_vocab();
  std::vector<int32_t> out;
  int32_t next =
      static_cast<int32_t>(std::max_element(first->begin(), first->end()) - first->begin());
  while (static_cast<int>(out.size()) < max_tokens) {
    out.push_back(next);
    if (is_end_of_generation(next) || static_cast<int>(out.size()) == max_tokens) break;
    // Positions follow the cache: the next one after the prompt and the tokens so far.
    const llama_batch batch = llama_batch_get_one(&next, 1);
    const auto t0 = std::chrono::steady_clock::now();
    const int rc = llama_decode(ctx_, batch);
    const float* logits = llama_get_logits_ith(ctx_, -1);
    decode_ms_ +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    ++decode_steps_;
    ++tokens_evaluated_;
    if (rc != 0 || logits == nullptr) {
      return make_error(ErrorCode::kInternal, fmt::format("llama_decode failed ({})", rc));
    }
    next = static_cast<int32_t>(std::max_element(logits, logits + nv) - logits);
  }
  return out;
}

Result<void> LlamaProbe::decode_rows(const std::vector<int32_t>& tokens, int pos0, size_t from,
                                     std::vector<float>* out) {
  const int nv = n_vocab();
  const size_t n_batch = llama_n_batch(ctx_);
  for (size_t i = 0; i < tokens.size(); i += n_batch) {
    const size_t n = std::min(tokens.size() - i, n_batch);
    llama_batch batch = llama_batch_init(static_cast<int32_t>(n), 0, 1);
    for (size_t k = 0; k < n; ++k) {
      batch.token[k] = tokens[i + k];
      batch.pos[k] = pos0 + static_cast<llama_pos>(i + k);
      batch.n_seq_id[k] = 1;
      batch.seq_id[k][0] = 0;
      batch.logits[k] = i + k >= from ? 1 : 0;
    }
    batch.n_tokens = static_cast<int32_t>(n);
    const int rc = llama_decode(ctx_, batch);
    llama_batch_free(batch);
    tokens_evaluated_ += static_cast<int64_t>(n);
    if (rc != 0)
      return make_error(ErrorCode::kInternal, fmt::format("llama_decode failed ({})", rc));
    for (size_t k = 0; k < n; ++k) {
      if (i + k < from) continue;
      const float* logits = llama_get_logits_ith(ctx_, static_cast<int32_t>(k));
      const size_t at = out->size();
      out->insert(out->end(), logits, logits + nv);
      log_softmax_row(out->data() + at, nv);
    }
  }
  return {};
}

Result<std::vector<float>> LlamaProbe::log_probs(const std::vector<int32_t>& tokens, size_t from) {
  if (ctx_ == nullptr) return make_error(ErrorCode::kInternal, "vocabulary-only model");
  if (tokens.empty() || from >= tokens.size()) {
    return make_error(ErrorCode::kInvalidArgument, "no position to read log-probabilities at");
  }
  if (tokens.size() > llama_n_ctx(ctx_)) {
    return make_error(ErrorCode::kResource, fmt::format("{} tokens exceed the context of {}",
                                                        tokens.size(), llama_n_ctx(ctx_)));
  }
  llama_memory_clear(llama_get_memory(ctx_), true);
  std::vector<float> out;
  out.reserve((tokens.size() - from) * static_cast<size_t>(n_vocab()));
  if (auto r = decode_rows(tokens, 0, from, &out); !r) return std::unexpected(r.error());
  return out;
}

Result<std::vector<double>> LlamaProbe::continuation_log_probs(
    const std::vector<int32_t>& prompt, const std::vector<std::vector<int32_t>>& continuations) {
  auto first = log_probs(prompt, prompt.size() - 1);
  if (!first) return std::unexpected(first.error());
  const size_t nv = static_cast<size_t>(n_vocab());
  const int n_prompt = static_cast<int>(prompt.size());
  std::vector<double> out;
  for (const auto& c : continuations) {
    double sum = (*first)[static_cast<size_t>(c[0])];
    if (c.size() > 1) {
      // Only the prompt stays in the cache; this continuation follows it.
      llama_memory_seq_rm(llama_get_memory(ctx_), 0, n_prompt, -1);
      std::vector<float> rows;
      const std::vector<int32_t> head(c.begin(), c.end() - 1);
      if (auto r = decode_rows(head, n_prompt, 0, &rows); !r) return std::unexpected(r.error());
      for (size_t i = 1; i < c.size(); ++i) sum += rows[(i - 1) * nv + static_cast<size_t>(c[i])];
    }
    out.push_back(sum);
  }
  return out;
}

VocabFacts LlamaProbe::vocab_facts() const {
  const llama_vocab* vocab = chat_->vocab();
  VocabFacts f;
  switch (llama_vocab_type(vocab)) {
    case LLAMA_VOCAB_TYPE_NONE:
      f.model_type = "none";
      break;
    case LLAMA_VOCAB_TYPE_SPM:
      f.model_type = "spm";
      break;
    case LLAMA_VOCAB_TYPE_BPE:
      f.model_type = "bpe";
      break;
    case LLAMA_VOCAB_TYPE_WPM:
      f.model_type = "wpm";
      break;
    case LLAMA_VOCAB_TYPE_UGM:
      f.model_type = "ugm";
      break;
    case LLAMA_VOCAB_TYPE_RWKV:
      f.model_type = "rwkv";
      break;
    default:
      f.model_type = fmt::format("type {}", static_cast<int>(llama_vocab_type(vocab)));
  }
  const int n = n_vocab();
  f.token_text.reserve(static_cast<size_t>(n));
  f.token_attr.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const char* t = llama_vocab_get_text(vocab, i);
    f.token_text.emplace_back(t ? t : "");
    f.token_attr.push_back(static_cast<int>(llama_vocab_get_attr(vocab, i)));
  }
  f.special = {{"bos", llama_vocab_bos(vocab)}, {"eos", llama_vocab_eos(vocab)},
               {"eot", llama_vocab_eot(vocab)}, {"sep", llama_vocab_sep(vocab)},
               {"nl", llama_vocab_nl(vocab)},   {"pad", llama_vocab_pad(vocab)}};
  f.add_bos = llama_vocab_get_add_bos(vocab);
  f.add_eos = llama_vocab_get_add_eos(vocab);
  const char* tmpl = llama_model_chat_template(model_, nullptr);
  f.chat_template = tmpl ? tmpl : "";
  return f;
}

}  // namespace clinbench
