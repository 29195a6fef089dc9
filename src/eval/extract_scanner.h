// The answer extractor's scanner: finds the candidate answers of each rule in a reply's answer
// region and picks one (rule order and contract in include/clinbench/extract.h). Its methods
// are spread over files by responsibility:
//   extract_scanner.cpp  run(), explicit statements (boxed, tags, "Answer: B", "I choose B",
//                        bare letter lines, "either B or C"), and what a statement names;
//   extract_affirm.cpp   affirmations ("B is correct", "the most appropriate drug is C",
//                        "matches option C"), bold letters and lettered lines;
//   extract_context.cpp  letters, negation, hedges, hypotheticals, and the option-text fallback
//                        with its rejection cues.
// Every scan is linear in the reply or looks at a bounded window around a position.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "clinbench/extract.h"

namespace clinbench::extract_detail {

struct Candidate {
  std::size_t position = 0;
  char letter = 0;
  ExtractionRule rule = ExtractionRule::kNone;
  bool hedge = false;  // names two or more letters as possible answers ("B or C")
};

// What follows a statement's verb: the letter it names (or a hedge between letters).
struct Target {
  char letter = 0;
  std::size_t position = 0;
  bool hedge = false;
};

class Scanner {
 public:
  // `text` is the answer region of the reply, already folded (fold_width).
  Scanner(std::string text, const std::map<std::string, std::string>& options);

  Extraction run() const;

 private:
  // extract_scanner.cpp
  static std::optional<Extraction> decide(const std::vector<Candidate>& statements,
                                          const std::vector<Candidate>& affirmations);
  std::optional<std::pair<char, std::size_t>> target_letter(std::size_t pos) const;
  std::optional<Target> statement_target(std::size_t pos) const;
  std::optional<Target> contrast_target(std::size_t pos) const;
  std::optional<char> option_at_start(std::string_view text) const;
  std::optional<char> letter_in_content(std::string_view content) const;
  std::optional<char> label_letter(std::string_view s, bool allow_text, bool lowercase_alone) const;
  std::optional<std::size_t> connector(std::size_t pos) const;
  bool conditional_connector(std::size_t keyword_end, std::size_t after) const;
  void boxed(std::vector<Candidate>& out) const;
  void answer_tags(std::vector<Candidate>& out) const;
  void answer_statements(std::vector<Candidate>& out) const;
  void answer_statement_at(std::size_t pos, std::size_t keyword_size, bool text_allowed,
                           std::vector<Candidate>& out) const;
  void choice_statements(std::vector<Candidate>& out) const;
  void bare_letter_lines(std::vector<Candidate>& out) const;
  void hedge_statements(std::vector<Candidate>& out) const;
  bool hesitation_before(std::size_t pos) const;
  bool hedge_predicate(std::size_t pos) const;

  // extract_affirm.cpp
  void correct_statements(std::vector<Candidate>& out) const;
  void correct_statement_at(std::size_t pos, char letter, std::vector<Candidate>& out) const;
  void subject_statements(std::vector<Candidate>& out) const;
  void match_statements(std::vector<Candidate>& out) const;
  void contrast_statements(std::vector<Candidate>& out) const;
  bool preceded_by_option_word(std::size_t pos) const;
  bool preceded_by_own_text(std::size_t pos, char letter) const;
  bool at_statement_start(std::size_t pos) const;
  std::optional<std::size_t> affirms_correct(std::size_t pos) const;
  std::optional<std::size_t> copula_before(std::size_t pos) const;
  std::optional<char> bold_letter() const;
  std::optional<char> letter_label() const;

  // extract_context.cpp
  bool valid(char letter) const { return letters_.contains(to_upper_ascii(letter)); }
  static char to_upper_ascii(char c) {
    return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
  }
  bool word_at(std::size_t pos, std::string_view word) const;
  bool word_starts_at(std::size_t pos) const;
  bool word_before(std::size_t pos, std::string_view word) const;
  std::size_t skip(std::size_t pos, bool newlines) const;
  std::optional<char> letter_at(std::size_t pos) const;
  bool genus_at(std::size_t pos) const;
  std::size_t clause_begin(std::size_t pos) const;
  std::size_t clause_end(std::size_t pos) const;
  bool negated_before(std::size_t pos) const;
  bool hypothetical(std::size_t from, std::size_t to, bool conditional_verb) const;
  // After a named letter at `pos`: more letters joined by "or", "/", "and", ","; `end` is where
  // the list stops.
  struct LetterList {
    std::vector<char> letters;
    std::size_t end = 0;
  };
  LetterList letter_list(std::size_t pos) const;
  bool continues_list(std::size_t pos) const;
  std::optional<std::size_t> rejection_at(std::size_t pos, bool* plural) const;
  std::optional<Target> resolve_list(char letter, std::size_t position) const;
  std::optional<char> option_text_anywhere() const;

  std::string text_;
  std::string low_;  // text_ lower-cased: same length, same positions
  std::set<char> letters_;
  std::vector<std::pair<char, std::string>> option_texts_;  // letter, normalized text
  std::size_t longest_option_ = 0;                          // in bytes, normalized
};

// Rejection cues around an option named in normalized prose ("haloperidol should be avoided",
// "rules out ondansetron"): `before` ends where the option's text begins, `after` starts where
// it ends.
bool rejected_option(std::string_view before, std::string_view after);

}  // namespace clinbench::extract_detail
