#include "model/kv_probe.h"

#include <fmt/format.h>
#include <llama.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

namespace clinbench {

namespace {

struct BatchDeleter {
  void operator()(llama_batch* b) const {
    llama_batch_free(*b);
    delete b;
  }
};

Error decode_error(int rc, const char* what) {
  return Error{ErrorCode::kInternal,
               fmt::format("KV layout probe: llama_decode failed ({}) {}", rc, what)};
}

}  // namespace

Result<DecodeRate> measure_decode_rate(llama_context* ctx, int n_seq, int depth, int steps,
                                       double give_up_below) {
  llama_memory_t mem = llama_get_memory(ctx);
  llama_memory_clear(mem, true);
  const llama_vocab* vocab = llama_model_get_vocab(llama_get_model(ctx));
  const int n_vocab = llama_vocab_n_tokens(vocab);
  const int n_batch = static_cast<int>(llama_n_batch(ctx));
  std::unique_ptr<llama_batch, BatchDeleter> batch(
      new llama_batch(llama_batch_init(std::max(n_batch, n_seq), 0, 1)));
  auto token = [&](int i) { return static_cast<llama_token>((1 + i * 7919) % n_vocab); };
  // Sequence 0's cells, n_batch tokens per decode.
  for (int pos = 0; pos < depth;) {
    const int n = std::min(n_batch, depth - pos);
    batch->n_tokens = n;
    for (int k = 0; k < n; ++k) {
      batch->token[k] = token(pos + k);
      batch->pos[k] = pos + k;
      batch->n_seq_id[k] = 1;
      batch->seq_id[k][0] = 0;
      batch->logits[k] = pos + k == depth - 1 ? 1 : 0;
    }
    if (const int rc = llama_decode(ctx, *batch); rc != 0) {
      llama_memory_clear(mem, true);
      return std::unexpected(decode_error(rc, "filling the first sequence"));
    }
    pos += n;
  }
  // The others: a copy of its state, in cells of their own.
  std::vector<uint8_t> state(llama_state_seq_get_size(ctx, 0));
  if (llama_state_seq_get_data(ctx, state.data(), state.size(), 0) != state.size()) {
    llama_memory_clear(mem, true);
    return make_error(ErrorCode::kInternal, "KV layout probe: cannot read a sequence's state");
  }
  for (int s = 1; s < n_seq; ++s) {
    if (llama_state_seq_set_data(ctx, state.data(), state.size(), s) == 0) {
      llama_memory_clear(mem, true);
      return make_error(ErrorCode::kInternal,
                        fmt::format("KV layout probe: cannot copy a state into sequence {}", s));
    }
  }
  std::vector<double> step_s;
  double fastest = 0;
  for (int step = 0; step <= steps; ++step) {
    batch->n_tokens = n_seq;
    for (int s = 0; s < n_seq; ++s) {
      batch->token[s] = token(depth + step + s);
      batch->pos[s] = depth + step;
      batch->n_seq_id[s] = 1;
      batch->seq_id[s][0] = s;
      batch->logits[s] = 1;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const int rc = llama_decode(ctx, *batch);
    if (rc == 0) llama_synchronize(ctx);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rc != 0) {
      llama_memory_clear(mem, true);
      return std::unexpected(decode_error(rc, "decoding a step"));
    }
    if (step == 0) continue;  // the first builds the step's graph
    step_s.push_back(s);
    fastest = step_s.size() == 1 ? s : std::min(fastest, s);
    if (give_up_below > 0 && static_cast<int>(step_s.size()) >= kMinProbeSteps && fastest > 0 &&
        n_seq / fastest < give_up_below) {
      break;
    }
  }
  llama_memory_clear(mem, true);
  std::nth_element(step_s.begin(), step_s.begin() + static_cast<std::ptrdiff_t>(step_s.size() / 2),
                   step_s.end());
  const double median = step_s[step_s.size() / 2];
  return DecodeRate{median > 0 ? n_seq / median : 0.0, static_cast<int>(step_s.size())};
}

}  // namespace clinbench
