// The labelled answer-extraction corpus (extract_corpus.cpp): replies written the way the model
// families whose chat templates llama.cpp ships write them, each with the letter a careful
// clinician would take from it (or none) and why. Used by extract_test.cpp and, as fragments,
// by extract_fuzz_test.cpp.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "clinbench/extract.h"

namespace clinbench::extract_corpus {

using Options = std::map<std::string, std::string>;

struct Case {
  const char* reply;
  const Options* options;
  const char* letter;  // "" when no answer may be extracted
  const char* why;
  std::optional<ExtractionRule> rule = std::nullopt;  // checked when set
};

const std::vector<Case>& cases();

// Two of the corpus's option sets, for tests of single rules.
extern const Options kDrugs;           // A Ondansetron, B Dexamethasone, C Metoclopramide, ...
extern const Options kAntithrombotic;  // A Aspirin .. E Alteplase

}  // namespace clinbench::extract_corpus
