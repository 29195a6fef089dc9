// Answer extraction under random input: replies glued from corpus fragments over random option
// sets never yield a letter the item lacks, and arbitrary bytes (invalid UTF-8, megabytes,
// special tokens, NULs, degenerate repetition) give a choice or none without crashing. The
// large inputs are sized so that a linear extractor finishes them in well under a second; a
// quadratic one would take minutes.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "clinbench/extract.h"
#include "eval/extract_corpus.h"

namespace clinbench {
namespace {

using Options = std::map<std::string, std::string>;

// A deterministic PRNG (64-bit LCG, high bits used).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return state_ >> 17;
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }

 private:
  std::uint64_t state_;
};

bool gives_letter(ExtractionRule rule) {
  return rule != ExtractionRule::kNone && rule != ExtractionRule::kAmbiguous &&
         rule != ExtractionRule::kTruncatedInReasoning;
}

// The extraction is well formed for `options`: a letter only from a letter rule, and only one
// the item has (A-E when it has no options).
void expect_well_formed(const Extraction& got, const Options& options, const std::string& reply) {
  EXPECT_EQ(got.letter.has_value(), gives_letter(got.rule))
      << to_string(got.rule) << " for " << reply.substr(0, 200);
  if (!got.letter) return;
  if (options.empty()) {
    EXPECT_TRUE(std::string("ABCDE").find(*got.letter) != std::string::npos &&
                got.letter->size() == 1)
        << *got.letter << " for " << reply.substr(0, 200);
  } else {
    EXPECT_TRUE(options.contains(*got.letter)) << *got.letter << " for " << reply.substr(0, 200);
  }
}

// Corpus replies, whole and cut into words and sentences.
std::vector<std::string> corpus_fragments() {
  std::vector<std::string> out;
  for (const auto& c : extract_corpus::cases()) {
    const std::string reply = c.reply;
    out.push_back(reply);
    std::size_t start = 0;
    for (std::size_t i = 0; i <= reply.size(); ++i) {
      if (i == reply.size() || reply[i] == ' ' || reply[i] == '\n' || reply[i] == '.') {
        if (i > start) out.push_back(reply.substr(start, i - start + (i < reply.size() ? 1 : 0)));
        start = i + 1;
      }
    }
  }
  return out;
}

Options random_options(Rng& rng) {
  static const std::vector<std::string> kTexts = {"Ondansetron",
                                                  "Dexamethasone",
                                                  "Metoclopramide",
                                                  "Haloperidol",
                                                  "Aspirin",
                                                  "Heparin",
                                                  "Warfarin",
                                                  "Clopidogrel",
                                                  "Alteplase",
                                                  "yes",
                                                  "no",
                                                  "maybe",
                                                  "Vitamin B12",
                                                  "Hepatitis B",
                                                  "Aspirin and clopidogrel",
                                                  "地塞米松",
                                                  ""};
  Options options;
  if (rng.below(8) == 0) return options;  // no options: A-E
  const std::size_t n = 2 + rng.below(9);
  std::vector<char> letters = {'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J'};
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t pick = i + rng.below(letters.size() - i);
    std::swap(letters[i], letters[pick]);
    options[std::string(1, letters[i])] = kTexts[rng.below(kTexts.size())];
  }
  return options;
}

TEST(ExtractProperty, NeverReturnsALetterTheItemLacks) {
  const std::vector<std::string> fragments = corpus_fragments();
  const std::vector<std::string> separators = {" ", "\n", ". ", "", "\n\n", "; "};
  Rng rng(20240613);
  std::size_t letters_found = 0;
  for (int round = 0; round < 4000; ++round) {
    std::string reply;
    const std::size_t pieces = 1 + rng.below(8);
    for (std::size_t k = 0; k < pieces; ++k) {
      reply += fragments[rng.below(fragments.size())];
      reply += separators[rng.below(separators.size())];
    }
    const Options options = random_options(rng);
    const Extraction got = extract_answer(reply, options);
    expect_well_formed(got, options, reply);
    if (got.letter) ++letters_found;
  }
  // The replies are made of answers: most must yield one, or the property is vacuous.
  EXPECT_GT(letters_found, 1000u);
}

TEST(ExtractFuzz, RandomBytesGiveAChoiceOrNone) {
  const std::vector<std::string> tokens = {"<think>",
                                           "</think>",
                                           "<|im_end|>",
                                           "<|eot_id|>",
                                           "<|channel|>final<|message|>",
                                           "assistantfinal",
                                           "analysis",
                                           "<|channel|>analysis",
                                           "\\boxed{",
                                           "}",
                                           "<answer>",
                                           "</answer>",
                                           "Answer:",
                                           " is ",
                                           "not ",
                                           " or ",
                                           "either ",
                                           "B",
                                           "A ",
                                           "(C)",
                                           "**",
                                           "\n",
                                           "答案：",
                                           "Ｃ",
                                           "\xEF\xBC",
                                           "\xE2\x80",
                                           "\xFF",
                                           std::string(1, '\0'),
                                           "would be ",
                                           "if ",
                                           "Heparin",
                                           "avoid",
                                           "is correct",
                                           "/",
                                           "$"};
  const Options options = {{"A", "Aspirin"}, {"B", "Heparin"}, {"C", "Warfarin"}};
  Rng rng(7);
  for (int round = 0; round < 5000; ++round) {
    std::string reply;
    const std::size_t n = rng.below(48);
    for (std::size_t k = 0; k < n; ++k) {
      if (rng.below(3) == 0) {
        reply.push_back(static_cast<char>(rng.next() & 0xFF));
      } else {
        reply += tokens[rng.below(tokens.size())];
      }
    }
    expect_well_formed(extract_answer(reply, options), options, reply);
    expect_well_formed(extract_answer(reply, {}), {}, reply);
  }
}

std::string repeat(const std::string& piece, std::size_t bytes) {
  std::string out;
  out.reserve(bytes + piece.size());
  while (out.size() < bytes) out += piece;
  return out;
}

TEST(ExtractFuzz, MegabyteRepliesOfDegeneratePatternsFinish) {
  constexpr std::size_t kMegabyte = 1 << 20;
  const Options options = {
      {"A", "Aspirin"}, {"B", "Heparin"}, {"C", "Warfarin"}, {"D", "Clopidogrel"}};
  const std::vector<std::string> pieces = {
      "The patient has a history of hypertension. ",
      "\\boxed{",
      "<answer>",
      "answer is ",
      "(A",
      "<think>",
      "</think>",
      "<|im_end|><|eot_id|>",
      std::string(1, '\0'),
      "\xFF\xFE\xEF\xBC",
      "not A but ",
      "either A or ",
      "A and B and C and ",
      "aspirin ",
      "**",
      "\n",
      "A) ",
      "Ａ",
      "答案：",
      "is correct ",
      "is A ",
      "the most appropriate is ",
      "if the answer would be ",
      "assistantfinal",
      "a",
      " ",
  };
  for (const std::string& piece : pieces) {
    // A megabyte of what the issue names (prose, special tokens, NULs, invalid UTF-8); a quarter
    // of one for the other patterns, still minutes of work for a quadratic scan.
    const bool named = piece.size() > 30 || piece == "<|im_end|><|eot_id|>" || piece[0] == '\0' ||
                       piece[0] == '\xFF';
    const std::string reply = repeat(piece, named ? kMegabyte : kMegabyte / 4);
    SCOPED_TRACE(testing::Message() << "repeated: " << piece.substr(0, 40));
    // A committed answer after the noise is still found.
    const std::string close = piece == "<think>" ? "</think>" : "";
    const std::string full = reply + close + "\nFinal answer: D";
    const Extraction tail = extract_answer(full, options);
    expect_well_formed(tail, options, full);
    EXPECT_EQ(tail.letter, "D");
  }
  // Only analysis: reasoning, however long.
  EXPECT_EQ(extract_answer("analysisWe need" + repeat(" think", kMegabyte), options).rule,
            ExtractionRule::kTruncatedInReasoning);
}

}  // namespace
}  // namespace clinbench
