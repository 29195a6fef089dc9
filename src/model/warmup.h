// Warm-up validation after a load: tokenizer round-trip on clinical strings, chat template
// rendering with BOS/EOS checks, and one short greedy generation with finite logits.
#pragma once

#include <string>
#include <vector>

#include "clinbench/adapter.h"
#include "clinbench/attempt.h"

struct llama_model;
struct llama_context;

namespace clinbench {

// The fixed clinical strings of the round-trip check: drug names, doses with units, µ and
// Greek letters, accented names.
const std::vector<std::string>& clinical_round_trip_strings();

WarmupReport run_warmup(llama_model* model, llama_context* ctx, const WarmupOptions& options);

class LoadedAdapters;

// With adapters set on the context: the next-token logits of `prompt` from the base alone and
// from each adapter alone; fills report.adapter_logit_delta and adds a failure naming each adapter
// that changes no logit (under kAdapterMinLogitDelta). Leaves all the adapters set.
void check_adapters_change_logits(llama_model* model, llama_context* ctx, const std::string& prompt,
                                  const std::vector<AdapterSpec>& specs, LoadedAdapters& adapters,
                                  WarmupReport& report);

// Greedy continuation of `prompt` (BOS added as the model asks); fills text and tokens, returns
// false (with *error) on a decode failure or non-finite logits.
bool greedy_generate(llama_model* model, llama_context* ctx, const std::string& prompt,
                     int n_predict, std::string* text, std::vector<int>* tokens,
                     bool* logits_finite, std::string* error);

}  // namespace clinbench
