// Answer extraction (contract and rule order in include/clinbench/extract.h). A hand-written
// scanner rather than std::regex: replies run to thousands of characters, where libstdc++'s
// recursive regex engine is slow and can overflow the stack.
#include "clinbench/extract.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

namespace clinbench {

namespace {

constexpr std::array<std::pair<ExtractionRule, const char*>, 11> kRuleNames = {{
    {ExtractionRule::kNone, "none"},
    {ExtractionRule::kBoxed, "boxed"},
    {ExtractionRule::kAnswerTag, "answer_tag"},
    {ExtractionRule::kAnswerStatement, "answer_statement"},
    {ExtractionRule::kAnswerStatementText, "answer_statement_text"},
    {ExtractionRule::kChoiceStatement, "choice_statement"},
    {ExtractionRule::kCorrectStatement, "correct_statement"},
    {ExtractionRule::kBareLetter, "bare_letter"},
    {ExtractionRule::kBoldLetter, "bold_letter"},
    {ExtractionRule::kLetterLabel, "letter_label"},
    {ExtractionRule::kOptionText, "option_text"},
}};

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool is_upper(char c) { return std::isupper(static_cast<unsigned char>(c)) != 0; }
char to_upper(char c) { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); }
char to_lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }
// Markdown and quoting around an answer: **B**, `B`, "B", $B$.
bool is_decoration(char c) {
  return c == '*' || c == '_' || c == '`' || c == '"' || c == '\'' || c == '$';
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = to_lower(c);
  return out;
}

// Lower-case, markdown removed, runs of space collapsed, punctuation at both ends dropped.
std::string normalize(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '*' || c == '_' || c == '`') continue;
    if (is_space(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(to_lower(c));
  }
  auto punct = [](char c) {
    return c == '.' || c == ',' || c == ';' || c == ':' || c == '!' || c == '?' || c == '"' ||
           c == '\'' || c == '(' || c == ')';
  };
  while (!out.empty() && punct(out.back())) out.pop_back();
  std::size_t begin = 0;
  while (begin < out.size() && punct(out[begin])) ++begin;
  out.erase(0, begin);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

struct Candidate {
  std::size_t position = 0;
  char letter = 0;
  ExtractionRule rule = ExtractionRule::kNone;
};

class Scanner {
 public:
  Scanner(std::string_view text, const std::map<std::string, std::string>& options)
      : text_(text), low_(lower(text)) {
    for (const auto& [key, value] : options) {
      if (key.size() == 1 && is_alpha(key[0])) {
        letters_.insert(to_upper(key[0]));
        std::string norm = normalize(value);
        if (!norm.empty()) option_texts_.emplace_back(to_upper(key[0]), std::move(norm));
      }
    }
    if (options.empty()) letters_ = {'A', 'B', 'C', 'D', 'E'};
  }

  Extraction run() {
    std::vector<Candidate> statements;
    boxed(statements);
    answer_tags(statements);
    answer_statements(statements);
    choice_statements(statements);
    bare_letter_lines(statements);
    if (auto last = last_of(statements)) return found(last->letter, last->rule);
    // "B is correct" is weaker: it also appears in option-by-option explanations after the
    // answer ("Answer: B. Note: A is correct only in children").
    std::vector<Candidate> affirmations;
    correct_statements(affirmations);
    if (auto last = last_of(affirmations)) return found(last->letter, last->rule);
    if (auto letter = bold_letter()) return found(*letter, ExtractionRule::kBoldLetter);
    if (auto letter = letter_label()) return found(*letter, ExtractionRule::kLetterLabel);
    if (auto letter = option_text_anywhere()) return found(*letter, ExtractionRule::kOptionText);
    return {};
  }

 private:
  // The candidate furthest into the reply; on a tie the one pushed first.
  static std::optional<Candidate> last_of(const std::vector<Candidate>& candidates) {
    if (candidates.empty()) return std::nullopt;
    return *std::max_element(
        candidates.begin(), candidates.end(),
        [](const Candidate& a, const Candidate& b) { return a.position < b.position; });
  }

  static Extraction found(char letter, ExtractionRule rule) {
    return {std::string(1, letter), rule};
  }

  bool valid(char letter) const { return letters_.contains(to_upper(letter)); }

  // True when `word` is at `pos` in the lower-cased text and ends at a word boundary.
  bool word_at(std::size_t pos, std::string_view word) const {
    if (low_.compare(pos, word.size(), word) != 0) return false;
    const std::size_t end = pos + word.size();
    return end >= low_.size() || !is_alnum(low_[end]);
  }
  bool word_starts_at(std::size_t pos) const { return pos == 0 || !is_alnum(low_[pos - 1]); }

  std::size_t skip(std::size_t pos, bool newlines) const {
    while (pos < text_.size() && (is_decoration(text_[pos]) ||
                                  (is_space(text_[pos]) && (newlines || text_[pos] != '\n')))) {
      ++pos;
    }
    return pos;
  }

  // A lone letter at `pos` (no letter or digit on either side), with the article guard: a
  // lower-case "a" followed by a word is the article, not option A.
  std::optional<char> letter_at(std::size_t pos) const {
    if (pos >= text_.size() || !is_alpha(text_[pos])) return std::nullopt;
    if (pos > 0 && is_alnum(text_[pos - 1])) return std::nullopt;
    if (pos + 1 < text_.size() && is_alnum(text_[pos + 1])) return std::nullopt;
    if (pos + 2 < text_.size() && text_[pos + 1] == ' ') {
      // The article: "a beta blocker", "A 45-year-old man".
      if (text_[pos] == 'a' && is_alpha(text_[pos + 2])) return std::nullopt;
      if (text_[pos] == 'A' && std::isdigit(static_cast<unsigned char>(text_[pos + 2]))) {
        return std::nullopt;
      }
    }
    return to_upper(text_[pos]);
  }

  // The answer a statement names, starting at `pos` (just after "is", ":", "choose"...):
  // optional decoration, "(", "option"/"choice"/"letter", then a letter. Returns the letter and
  // its position, or nothing when what follows is not a letter.
  std::optional<std::pair<char, std::size_t>> target_letter(std::size_t pos) const {
    pos = skip(pos, /*newlines=*/true);
    for (int round = 0; round < 3; ++round) {
      if (pos < text_.size() && (text_[pos] == '(' || text_[pos] == '[' || text_[pos] == '{')) {
        pos = skip(pos + 1, true);
      }
      for (std::string_view prefix : {"\\boxed{", "\\text{", "\\textbf{", "\\mathrm{"}) {
        if (low_.compare(pos, prefix.size(), prefix) == 0) pos = skip(pos + prefix.size(), true);
      }
      for (std::string_view word : {"option", "choice", "letter"}) {
        if (word_at(pos, word)) pos = skip(pos + word.size(), true);
      }
    }
    if (auto letter = letter_at(pos)) return std::make_pair(*letter, pos);
    return std::nullopt;
  }

  // The option whose (normalized) text starts `text`, the longest when several do.
  std::optional<char> option_at_start(std::string_view text) const {
    std::string norm = normalize(text);
    for (std::string_view article : {"the ", "an ", "a "}) {
      if (norm.starts_with(article) &&
          std::none_of(option_texts_.begin(), option_texts_.end(),
                       [&](const auto& o) { return o.second.starts_with(article); })) {
        norm.erase(0, article.size());
        break;
      }
    }
    std::optional<char> best;
    std::size_t best_size = 0;
    bool tie = false;
    for (const auto& [letter, option] : option_texts_) {
      if (!norm.starts_with(option)) continue;
      if (norm.size() > option.size() && is_alnum(norm[option.size()])) continue;
      if (option.size() > best_size) {
        best = letter;
        best_size = option.size();
        tie = false;
      } else if (option.size() == best_size) {
        tie = true;
      }
    }
    if (tie) return std::nullopt;
    return best;
  }

  // Content of \boxed{...} or <answer>...</answer>: a letter label, else an option's text.
  std::optional<char> letter_in_content(std::string_view content) const {
    std::string clean;
    std::string_view rest = content;
    while (!rest.empty()) {
      bool dropped = false;
      for (std::string_view macro : {"\\text{", "\\textbf{", "\\mathrm{", "\\mathbf{"}) {
        if (rest.starts_with(macro)) {
          rest.remove_prefix(macro.size());
          dropped = true;
        }
      }
      if (dropped) continue;
      if (rest.front() != '{' && rest.front() != '}' && rest.front() != '$') {
        clean.push_back(rest.front());
      }
      rest.remove_prefix(1);
    }
    std::string norm = normalize(clean);
    if (auto letter = label_letter(clean, /*allow_text=*/true, /*lowercase_alone=*/true)) {
      return letter;
    }
    if (norm.empty()) return std::nullopt;
    return option_at_start(norm);
  }

  // A letter label: optional "(" or "[", a letter, optional ")" or "]", optional "." or ":",
  // then the end, or (allow_text) a space and text after some label punctuation. Upper case;
  // lower case only inside parentheses ("(b)", "b)") or, with lowercase_alone, when the letter
  // is all there is ("b", "b.").
  std::optional<char> label_letter(std::string_view s, bool allow_text,
                                   bool lowercase_alone) const {
    auto trimmed = [](char c) { return is_space(c) || is_decoration(c) || c == '#' || c == '>'; };
    while (!s.empty() && trimmed(s.front())) s.remove_prefix(1);
    while (!s.empty() && trimmed(s.back())) s.remove_suffix(1);
    bool open = false;
    if (!s.empty() && (s.front() == '(' || s.front() == '[')) {
      open = true;
      s.remove_prefix(1);
    }
    if (s.empty() || !is_alpha(s.front())) return std::nullopt;
    const char letter = s.front();
    s.remove_prefix(1);
    bool closed = false;
    if (!s.empty() && (s.front() == ')' || s.front() == ']')) {
      closed = true;
      s.remove_prefix(1);
    }
    bool punct = false;
    if (!s.empty() && (s.front() == '.' || s.front() == ':')) {
      punct = true;
      s.remove_prefix(1);
    }
    if (open && !closed) return std::nullopt;
    if (!s.empty()) {
      if (!allow_text || !is_space(s.front()) || !(closed || punct)) return std::nullopt;
    }
    if (!is_upper(letter) && !closed && !(lowercase_alone && s.empty())) return std::nullopt;
    if (!valid(letter)) return std::nullopt;
    return to_upper(letter);
  }

  // A negation just before `pos`: "not", "never", "n't" ("I would not choose A").
  bool negated_before(std::size_t pos) const {
    const std::size_t from = pos > 24 ? pos - 24 : 0;
    std::string_view before = std::string_view(low_).substr(from, pos - from);
    if (std::size_t stop = before.find_last_of(".;!?\n"); stop != std::string_view::npos) {
      before.remove_prefix(stop + 1);
    }
    return before.find("not ") != std::string_view::npos ||
           before.find("n't ") != std::string_view::npos ||
           before.find("never ") != std::string_view::npos;
  }

  void boxed(std::vector<Candidate>& out) const {
    for (std::size_t pos = low_.find("\\boxed{"); pos != std::string::npos;
         pos = low_.find("\\boxed{", pos + 1)) {
      const std::size_t begin = pos + 7;
      int depth = 1;
      std::size_t end = begin;
      while (end < text_.size() && depth > 0) {
        if (text_[end] == '{') ++depth;
        if (text_[end] == '}') --depth;
        if (depth > 0) ++end;
      }
      if (auto letter = letter_in_content(text_.substr(begin, end - begin))) {
        out.push_back({end, *letter, ExtractionRule::kBoxed});  // ends after "answer is $\boxed{"
      }
    }
  }

  void answer_tags(std::vector<Candidate>& out) const {
    for (std::size_t pos = low_.find("<answer>"); pos != std::string::npos;
         pos = low_.find("<answer>", pos + 1)) {
      const std::size_t begin = pos + 8;
      const std::size_t end = std::min(low_.find("</answer>", begin), text_.size());
      if (auto letter = letter_in_content(text_.substr(begin, end - begin))) {
        out.push_back({end, *letter, ExtractionRule::kAnswerTag});
      }
    }
  }

  // After "answer"/"option"/"choice": a connector (":", "=", "-", "is", "would be", ...) then
  // the target. Returns the position after the connector.
  std::optional<std::size_t> connector(std::size_t pos) const {
    pos = skip(pos, /*newlines=*/false);
    for (std::string_view noun : {"choice", "option", "letter"}) {
      if (word_at(pos, noun)) pos = skip(pos + noun.size(), false);
    }
    if (pos < low_.size() && (low_[pos] == ':' || low_[pos] == '=')) return pos + 1;
    if (low_.compare(pos, 2, "->") == 0) return pos + 2;
    if (pos < low_.size() && low_[pos] == '-' && pos + 1 < low_.size() && low_[pos + 1] == ' ') {
      return pos + 1;
    }
    if (low_.compare(pos, 3, "\xE2\x80\x94") == 0 || low_.compare(pos, 3, "\xE2\x80\x93") == 0) {
      return pos + 3;  // em and en dashes
    }
    static constexpr std::string_view kVerbs[] = {
        "is",          "would be",  "should be", "will be", "must be", "appears to be",
        "seems to be", "has to be", "was",
    };
    bool verb = false;
    for (std::string_view v : kVerbs) {
      if (word_at(pos, v)) {
        pos += v.size();
        verb = true;
        break;
      }
    }
    if (!verb) return std::nullopt;
    static constexpr std::string_view kAdverbs[] = {
        "therefore", "thus",   "clearly", "likely",   "probably", "definitely",
        "most",      "indeed", "then",    "actually", "hence",    "still",
    };
    for (int round = 0; round < 2; ++round) {
      std::size_t p = skip(pos, false);
      for (std::string_view a : kAdverbs) {
        if (word_at(p, a)) {
          pos = p + a.size();
          break;
        }
      }
    }
    std::size_t p = skip(pos, false);
    if (p < low_.size() && low_[p] == ':') pos = p + 1;
    return pos;
  }

  void answer_statements(std::vector<Candidate>& out) const {
    for (std::string_view keyword : {"answer", "option", "choice"}) {
      for (std::size_t pos = low_.find(keyword); pos != std::string::npos;
           pos = low_.find(keyword, pos + 1)) {
        if (!word_starts_at(pos) || !word_at(pos, keyword)) continue;
        std::optional<std::size_t> after = connector(pos + keyword.size());
        if (!after) continue;
        if (auto target = target_letter(*after)) {
          if (valid(target->first)) {
            out.push_back({target->second, target->first, ExtractionRule::kAnswerStatement});
          }
          continue;
        }
        if (keyword != "answer") continue;  // "the best option is to wait" is no option text
        // The option's text instead of its letter: up to the end of the line or sentence.
        const std::size_t start = skip(*after, /*newlines=*/false);
        std::size_t end = text_.find('\n', start);
        if (end == std::string::npos) end = text_.size();
        if (auto letter = option_at_start(text_.substr(start, end - start))) {
          out.push_back({start, *letter, ExtractionRule::kAnswerStatementText});
        }
      }
    }
  }

  void choice_statements(std::vector<Candidate>& out) const {
    for (std::string_view verb :
         {"choose", "chose", "select", "pick", "go with", "going with", "opt for", "settle on",
          "i'd say", "i would say", "i'll say", "i will say", "i\u2019d say", "i\u2019ll say"}) {
      for (std::size_t pos = low_.find(verb); pos != std::string::npos;
           pos = low_.find(verb, pos + 1)) {
        if (!word_starts_at(pos) || !word_at(pos, verb) || negated_before(pos)) continue;
        std::size_t after = pos + verb.size();
        if (after < low_.size() && low_[after] == ':') ++after;
        if (auto target = target_letter(after); target && valid(target->first)) {
          out.push_back({target->second, target->first, ExtractionRule::kChoiceStatement});
        }
      }
    }
  }

  // "B is correct", "Option C is the best answer", "(C) Dexamethasone is the correct choice".
  void correct_statements(std::vector<Candidate>& out) const {
    for (std::size_t pos = 0; pos < text_.size(); ++pos) {
      std::optional<char> letter = letter_at(pos);
      if (!letter || !valid(*letter)) continue;
      const bool named = preceded_by_option_word(pos);
      if (!is_upper(text_[pos]) && !named) continue;
      if (!named && !at_statement_start(pos)) continue;
      if (negated_before(pos)) continue;
      std::size_t p = pos + 1;
      while (p < text_.size() && (text_[p] == ')' || text_[p] == ']' || text_[p] == '.' ||
                                  text_[p] == ':' || is_decoration(text_[p]))) {
        ++p;
      }
      p = skip(p, false);
      // The option's own text may follow its letter.
      for (const auto& [option_letter, option] : option_texts_) {
        if (option_letter == *letter && low_.compare(p, option.size(), option) == 0) {
          p = skip(p + option.size(), false);
          break;
        }
      }
      if (p < text_.size() && text_[p] == '(') {
        const std::size_t close = text_.find(')', p);
        if (close != std::string::npos && close - p < 200) p = skip(close + 1, false);
      }
      if (p < low_.size() && low_[p] == ',') p = skip(p + 1, false);
      if (affirms_correct(p)) {
        out.push_back({pos, *letter, ExtractionRule::kCorrectStatement});
      }
    }
  }

  bool preceded_by_option_word(std::size_t pos) const {
    std::size_t p = pos;
    while (p > 0 && (is_space(text_[p - 1]) || is_decoration(text_[p - 1]) || text_[p - 1] == '(' ||
                     text_[p - 1] == '[')) {
      --p;
    }
    for (std::string_view word : {"option", "choice", "answer"}) {
      if (p >= word.size() && low_.compare(p - word.size(), word.size(), word) == 0 &&
          word_starts_at(p - word.size())) {
        return true;
      }
    }
    return false;
  }

  // The letter starts a statement: at the start of the text or a line, after punctuation, or
  // after a connective ("so", "therefore"), not in the middle of prose ("vitamin A is ...").
  bool at_statement_start(std::size_t pos) const {
    std::size_t p = pos;
    while (p > 0 && (text_[p - 1] == ' ' || text_[p - 1] == '\t' || is_decoration(text_[p - 1]) ||
                     text_[p - 1] == '(' || text_[p - 1] == '[' || text_[p - 1] == '#' ||
                     text_[p - 1] == '>' || text_[p - 1] == '-')) {
      --p;
    }
    if (p == 0) return true;
    const char c = text_[p - 1];
    if (c == '\n' || c == '.' || c == ',' || c == ';' || c == ':' || c == '!' || c == '?') {
      return true;
    }
    for (std::string_view word : {"so", "therefore", "thus", "hence", "then", "clearly", "think",
                                  "believe", "that", "say"}) {
      if (p >= word.size() && low_.compare(p - word.size(), word.size(), word) == 0 &&
          word_starts_at(p - word.size())) {
        return true;
      }
    }
    return false;
  }

  // At `pos`: "is correct", "is the best answer", "would be the most appropriate", ...
  bool affirms_correct(std::size_t pos) const {
    bool verb = false;
    for (std::string_view v : {"is", "would be", "must be", "seems to be", "appears to be"}) {
      if (word_at(pos, v)) {
        pos = skip(pos + v.size(), false);
        verb = true;
        break;
      }
    }
    if (!verb) return false;
    for (std::string_view adverb : {"definitely", "clearly", "therefore", "indeed", "thus"}) {
      if (word_at(pos, adverb)) pos = skip(pos + adverb.size(), false);
    }
    if (word_at(pos, "the")) pos = skip(pos + 3, false);
    for (std::string_view phrase : {"correct", "right", "true", "answer", "most likely",
                                    "most appropriate", "most accurate", "most correct"}) {
      if (word_at(pos, phrase)) return true;
    }
    if (word_at(pos, "best")) {
      const std::size_t p = skip(pos + 4, false);
      for (std::string_view noun : {"answer", "option", "choice", "response"}) {
        if (word_at(p, noun)) return true;
      }
    }
    return false;
  }

  void bare_letter_lines(std::vector<Candidate>& out) const {
    std::size_t start = 0;
    while (start <= text_.size()) {
      std::size_t end = text_.find('\n', start);
      if (end == std::string::npos) end = text_.size();
      std::string_view line = text_.substr(start, end - start);
      // "Option C" and "Choice C" alone on a line say no less than "C".
      std::size_t word = start;
      while (word < end && (is_space(text_[word]) || is_decoration(text_[word]))) ++word;
      for (std::string_view name : {"option", "choice"}) {
        if (word_at(word, name)) line = text_.substr(word + name.size(), end - word - name.size());
      }
      if (auto letter = label_letter(line, /*allow_text=*/false, /*lowercase_alone=*/true)) {
        // Positioned at the letter: a statement naming the same letter ("Answer:\nB") was
        // pushed first and wins the tie.
        std::size_t offset = line.data() - text_.data();
        while (offset < end && !is_alpha(text_[offset])) ++offset;
        out.push_back({offset, *letter, ExtractionRule::kBareLetter});
      }
      start = end + 1;
    }
  }

  std::optional<char> bold_letter() const {
    std::set<char> letters;
    std::size_t pos = text_.find("**");
    while (pos != std::string::npos) {
      const std::size_t close = text_.find("**", pos + 2);
      if (close == std::string::npos) break;
      if (auto letter = label_letter(text_.substr(pos + 2, close - pos - 2), true, false)) {
        letters.insert(*letter);
      }
      pos = text_.find("**", close + 2);
    }
    if (letters.size() == 1) return *letters.begin();
    return std::nullopt;
  }

  std::optional<char> letter_label() const {
    std::set<char> letters;
    std::size_t start = 0;
    while (start <= text_.size()) {
      std::size_t end = text_.find('\n', start);
      if (end == std::string::npos) end = text_.size();
      std::string_view line = text_.substr(start, end - start);
      while (!line.empty() && (is_space(line.front()) || line.front() == '-' ||
                               line.front() == '*' || line.front() == '>')) {
        line.remove_prefix(1);
      }
      // Only the label itself: "B) text" -> "B)".
      std::size_t cut = 0;
      while (cut < line.size() && !is_space(line[cut])) ++cut;
      std::string_view label = line.substr(0, cut);
      const bool punctuated = !label.empty() && (label.back() == ')' || label.back() == '.' ||
                                                 label.back() == ':' || label.back() == ']');
      if (punctuated) {
        if (auto letter = label_letter(label, false, false)) letters.insert(*letter);
      }
      start = end + 1;
    }
    if (letters.size() == 1) return *letters.begin();
    return std::nullopt;
  }

  std::optional<char> option_text_anywhere() const {
    const std::string reply = normalize(text_);
    struct Hit {
      char letter;
      std::size_t begin;
      std::size_t end;
    };
    std::vector<Hit> hits;
    for (const auto& [letter, option] : option_texts_) {
      for (std::size_t pos = reply.find(option); pos != std::string::npos;
           pos = reply.find(option, pos + 1)) {
        const std::size_t end = pos + option.size();
        if ((pos > 0 && is_alnum(reply[pos - 1])) || (end < reply.size() && is_alnum(reply[end]))) {
          continue;
        }
        hits.push_back({letter, pos, end});
      }
    }
    std::set<char> letters;
    for (const Hit& hit : hits) {
      const bool inside_longer = std::any_of(hits.begin(), hits.end(), [&](const Hit& other) {
        return other.letter != hit.letter && other.begin <= hit.begin && hit.end <= other.end &&
               other.end - other.begin > hit.end - hit.begin;
      });
      if (!inside_longer) letters.insert(hit.letter);
    }
    if (letters.size() == 1) return *letters.begin();
    return std::nullopt;
  }

  std::string_view text_;
  std::string low_;  // text_ lower-cased: same length, same positions
  std::set<char> letters_;
  std::vector<std::pair<char, std::string>> option_texts_;  // letter, normalized text
};

}  // namespace

const char* to_string(ExtractionRule rule) {
  for (const auto& [value, name] : kRuleNames) {
    if (value == rule) return name;
  }
  return "unknown";
}

std::optional<ExtractionRule> extraction_rule_from_string(const std::string& text) {
  for (const auto& [value, name] : kRuleNames) {
    if (text == name) return value;
  }
  return std::nullopt;
}

Extraction extract_answer(const std::string& reply,
                          const std::map<std::string, std::string>& options) {
  std::string_view text = reply;
  const std::string low = lower(reply);
  if (std::size_t think = low.rfind("</think>"); think != std::string::npos) {
    text.remove_prefix(think + 8);
  }
  return Scanner(text, options).run();
}

}  // namespace clinbench
