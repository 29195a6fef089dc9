// How fast a context decodes with all its sequences busy: the measurement behind the KV layout's
// choice (KvLayout::kAuto, docs/attempt-log.md "kv").
#pragma once

#include "clinbench/error.h"

struct llama_context;

namespace clinbench {

// Fills sequences 0 .. n_seq-1 with `depth` cells each, then decodes one warm-up step and
// `steps` timed steps of one token per sequence (logits for every token, as generation asks)
// and returns n_seq over the median step's seconds: aggregate decode tokens/s at that depth.
// Sequence 0's prompt is computed once and its KV state written into the others, so that each
// holds cells of its own in either layout (a llama_memory_seq_cp would share the cells of a
// unified pool, and its attention would span depth cells, not n_seq * depth). The tokens are
// arbitrary: the rate depends on the shape, not the text. The memory is cleared before and
// after. Each call computes its prompt: a sequence's state records its layout's streams, so one
// layout's cannot be written into the other's. REQUIRES: depth + steps + 1 <= the cells a
// sequence has; n_seq <= the context's.
//
// `give_up_below` > 0 ends the measurement early, after kMinProbeSteps timed steps, once even the
// fastest step so far is slower than that rate: the layout cannot be the faster one, and its
// remaining steps would only cost time.
struct DecodeRate {
  double tok_s = 0;
  int steps = 0;  // timed steps taken: `steps`, or fewer when it gave up
};
inline constexpr int kMinProbeSteps = 3;
Result<DecodeRate> measure_decode_rate(llama_context* ctx, int n_seq, int depth, int steps,
                                       double give_up_below = 0);

}  // namespace clinbench
