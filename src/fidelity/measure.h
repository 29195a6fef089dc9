// The reference pass and the candidate pass of a fidelity measurement.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clinbench/fidelity.h"

namespace clinbench {

// What the reference did on one item, kept for every candidate.
struct ReferenceItem {
  Item item;
  std::vector<std::string> letters;
  std::vector<int32_t> answer_prompt;  // the log-likelihood prompt, "Answer:" and the letters'
                                       // shared leading tokens
  std::vector<std::vector<int32_t>> letter_tokens;  // each letter's tokens after answer_prompt
  std::vector<double> letter_log_probs;             // the reference's, over the letters
  std::vector<int32_t> reasoning_prompt;            // the generation prompt
  std::vector<int32_t> trace;                       // the reference's greedy continuation of it
  std::vector<float> trace_log_probs;  // trace.size() rows of n_vocab: the reference's next-
                                       // token distribution before each trace token
};

struct ReferenceRun {
  FidelityModel model;
  ModelUse use;
  int n_vocab = 0;
  std::vector<ReferenceItem> items;
  std::vector<SkippedItem> skipped;
};

// Loads the reference and measures it on the items. Items that cannot be compared (open_ended,
// no options, letters that do not tokenize apart, too long for the context) are skipped with the
// reason. Errors: the load failed, the kept distributions exceed options.max_reference_bytes,
// no item left.
Result<ReferenceRun> measure_reference(const FidelityModel& reference,
                                       const std::vector<Item>& items,
                                       const FidelityOptions& options);

// Loads the candidate and compares it with the reference on the reference's items: the same
// tokens go through both. Errors: the load failed, the vocabularies differ.
Result<CandidateResult> measure_candidate(const ReferenceRun& reference,
                                          const FidelityModel& candidate,
                                          const FidelityOptions& options);

}  // namespace clinbench
