// The answer extractor's reading of context (extract_scanner.h): what is a letter, what negates,
// hedges or makes hypothetical a statement, and the option-text fallback with its rejection
// cues. Every check looks at a bounded window around a position.
#include <algorithm>
#include <array>

#include "eval/extract_scanner.h"
#include "eval/extract_text.h"

namespace clinbench::extract_detail {

namespace {

// How far the clause checks look from a position, in bytes.
constexpr std::size_t kClauseWindow = 200;

// `word` occurs in `text` as a whole word (ASCII boundaries; a word that starts or ends with a
// non-ASCII byte needs no boundary on that side: CJK text has no spaces).
bool contains_word(std::string_view text, std::string_view word) {
  for (std::size_t pos = text.find(word); pos != std::string_view::npos;
       pos = text.find(word, pos + 1)) {
    const std::size_t end = pos + word.size();
    const bool left = pos == 0 || !is_alnum(text[pos - 1]) || !is_alnum(word.front());
    const bool right = end >= text.size() || !is_alnum(text[end]) || !is_alnum(word.back());
    if (left && right) return true;
  }
  return false;
}

bool contains_any_word(std::string_view text, std::initializer_list<std::string_view> words) {
  return std::any_of(words.begin(), words.end(),
                     [&](std::string_view w) { return contains_word(text, w); });
}

// A word after a capital "A " that makes the A a letter ("A is correct", "A or C") rather than
// the article ("A corticosteroid", "A patient").
bool letter_word(std::string_view word) {
  static constexpr std::string_view kWords[] = {
      "is",      "was",    "would",   "will",  "should",  "could",   "can",  "may",   "might",
      "must",    "does",   "did",     "has",   "and",     "or",      "nor",  "but",   "as",
      "for",     "with",   "fits",    "seems", "appears", "looks",   "here", "given", "due",
      "over",    "rather", "instead", "alone", "only",    "best",    "also", "then",  "so",
      "because", "since",  "remains", "are",   "mais",    "sondern", "sino", "ma",    "mas",
      "ou",      "oder",   "und",     "et",    "y",       "e",       "o",
  };
  return std::find(std::begin(kWords), std::end(kWords), word) != std::end(kWords);
}

}  // namespace

bool Scanner::word_at(std::size_t pos, std::string_view word) const {
  if (pos > low_.size() || low_.compare(pos, word.size(), word) != 0) return false;
  const std::size_t end = pos + word.size();
  return end >= low_.size() || !is_alnum(low_[end]) || !is_alnum(word.back());
}

bool Scanner::word_starts_at(std::size_t pos) const { return pos == 0 || !is_alnum(low_[pos - 1]); }

// `word` ends at `pos` (after optional spaces) and starts at a word boundary.
bool Scanner::word_before(std::size_t pos, std::string_view word) const {
  while (pos > 0 && (low_[pos - 1] == ' ' || low_[pos - 1] == '\t')) --pos;
  return pos >= word.size() && low_.compare(pos - word.size(), word.size(), word) == 0 &&
         (!is_alnum(word.front()) || word_starts_at(pos - word.size()));
}

std::size_t Scanner::skip(std::size_t pos, bool newlines) const {
  while (pos < text_.size() && (is_decoration(text_[pos]) ||
                                (is_space(text_[pos]) && (newlines || text_[pos] != '\n')))) {
    ++pos;
  }
  return pos;
}

// A lone letter at `pos` (no letter or digit on either side), with the article guard: "a" or
// "A" followed by a word ("a beta blocker", "A corticosteroid", "A 45-year-old man") is the
// article, not option A, unless the word reads as a statement about a letter ("A is correct").
std::optional<char> Scanner::letter_at(std::size_t pos) const {
  if (pos >= text_.size() || !is_alpha(text_[pos])) return std::nullopt;
  if (pos > 0 && is_alnum(text_[pos - 1])) return std::nullopt;
  if (pos + 1 < text_.size() && is_alnum(text_[pos + 1])) return std::nullopt;
  // "A-fib", "B-cell", "C-reactive protein".
  if (pos + 2 < text_.size() && text_[pos + 1] == '-' && is_alnum(text_[pos + 2])) {
    return std::nullopt;
  }
  if (genus_at(pos)) return std::nullopt;
  if (pos + 2 < text_.size() && text_[pos + 1] == ' ') {
    const char next = text_[pos + 2];
    if (text_[pos] == 'a' && is_alpha(next)) return std::nullopt;
    if (text_[pos] == 'A' && is_digit(next)) return std::nullopt;
    if (text_[pos] == 'A' && is_lower(next)) {
      std::size_t end = pos + 2;
      while (end < low_.size() && end - pos < 12 && is_alpha(low_[end])) ++end;
      if (!letter_word(std::string_view(low_).substr(pos + 2, end - pos - 2))) {
        return std::nullopt;
      }
    }
  }
  return to_upper(text_[pos]);
}

// "E. coli", "S. aureus", "C. difficile": a capital, a full stop and a lower-case word that is
// neither a function word ("B. the patient") nor the start of the letter's own option text
// ("C. metoclopramide").
bool Scanner::genus_at(std::size_t pos) const {
  if (!is_upper(text_[pos]) || pos + 3 >= text_.size() || text_[pos + 1] != '.' ||
      text_[pos + 2] != ' ' || !is_lower(text_[pos + 3])) {
    return false;
  }
  for (const auto& [letter, option] : option_texts_) {
    if (letter == text_[pos] && low_.compare(pos + 3, option.size(), option) == 0) return false;
  }
  std::size_t end = pos + 3;
  while (end < low_.size() && end - pos < 16 && is_alpha(low_[end])) ++end;
  const std::string_view word = std::string_view(low_).substr(pos + 3, end - pos - 3);
  return !letter_word(word) && word != "the" && word != "a" && word != "an" && word != "this" &&
         word != "it" && word != "that" && word != "its" && word != "not" && word != "which";
}

std::size_t Scanner::clause_begin(std::size_t pos) const {
  const std::size_t limit = pos > kClauseWindow ? pos - kClauseWindow : 0;
  while (pos > limit && !is_clause_end(text_[pos - 1])) --pos;
  return pos;
}

std::size_t Scanner::clause_end(std::size_t pos) const {
  const std::size_t limit = std::min(text_.size(), pos + kClauseWindow);
  while (pos < limit && !is_clause_end(text_[pos])) ++pos;
  return pos;
}

// A negation just before `pos` in the same clause: "not", "never", "n't", "neither", "nor"
// ("I would not choose A", "neither A nor B is correct"); a contrast after it ("not A but C")
// ends its reach.
bool Scanner::negated_before(std::size_t pos) const {
  const std::size_t from = pos > 28 ? pos - 28 : 0;
  std::string_view before = std::string_view(low_).substr(from, pos - from);
  if (std::size_t stop = before.find_last_of(".;!?\n"); stop != std::string_view::npos) {
    before.remove_prefix(stop + 1);
  }
  for (std::string_view contrast : {"but ", "rather", "instead", "however"}) {
    if (std::size_t at = before.rfind(contrast); at != std::string_view::npos) {
      before.remove_prefix(at + contrast.size());
    }
  }
  return contains_any_word(before, {"not", "never", "neither", "nor"}) ||
         before.find("n't ") != std::string_view::npos ||
         before.find("n\u2019t ") != std::string_view::npos;
}

// The sentence around [from, to) makes a statement hypothetical: a condition ("if", "unless",
// "otherwise", "assuming") with a conditional verb ("the answer would be D") or a
// counterfactual ("were", "had"). "If I had to choose, ..." commits.
bool Scanner::hypothetical(std::size_t from, std::size_t to, bool conditional_verb) const {
  const std::size_t begin = clause_begin(from);
  const std::size_t end = clause_end(to);
  std::string_view s = std::string_view(low_).substr(begin, end - begin);
  const bool condition = contains_any_word(s, {"if",
                                               "unless",
                                               "otherwise",
                                               "assuming",
                                               "suppose",
                                               "supposing",
                                               "in case",
                                               "had the",
                                               "had she",
                                               "had he",
                                               "were the",
                                               "were she",
                                               "were he",
                                               "were it",
                                               "wenn",
                                               "falls",
                                               "si",
                                               "se",
                                               "\xE5\xA6\x82\xE6\x9E\x9C" /* 如果 */,
                                               "\xE5\x81\x87\xE5\xA6\x82" /* 假如 */,
                                               "\xE3\x82\x82\xE3\x81\x97" /* もし */});
  if (!condition) return false;
  for (std::string_view idiom :
       {"if i had to", "if i have to", "if i must", "if forced", "if i were to", "if asked"}) {
    if (s.find(idiom) != std::string_view::npos) return false;
  }
  return conditional_verb || contains_any_word(s, {"were", "had", "would", "could", "might"});
}

// More letters after the one at `pos`: "B or C", "A/C", "A and D", "B, C". A list joined only
// by commas that runs on into prose ("B, C being less likely") is the first letter alone.
Scanner::LetterList Scanner::letter_list(std::size_t pos) const {
  LetterList list{{to_upper(text_[pos])}, pos + 1};
  bool joined_by_word = false;
  auto close = [&](std::size_t q) {
    while (q < text_.size() && (text_[q] == ')' || text_[q] == ']' || is_decoration(text_[q]))) {
      ++q;
    }
    return q;
  };
  list.end = close(pos + 1);
  const std::size_t first_end = list.end;
  for (int round = 0; round < 8; ++round) {
    std::size_t q = list.end;
    bool word = false;
    bool joined = false;
    if (q < text_.size() && (text_[q] == '/' || text_[q] == '&')) {
      ++q;
      word = joined = true;
    } else if (q < text_.size() && text_[q] == ',') {
      ++q;
      joined = true;
    }
    q = skip(q, false);
    for (std::string_view joiner : {"and/or", "or", "and", "nor", "&"}) {
      if (word_at(q, joiner)) {
        q = skip(q + joiner.size(), false);
        word = joined = true;
        break;
      }
    }
    if (!joined) break;
    for (std::string_view hedge : {"possibly", "maybe", "perhaps", "potentially"}) {
      if (word_at(q, hedge)) q = skip(q + hedge.size(), false);
    }
    if (q < text_.size() && (text_[q] == '(' || text_[q] == '[')) q = skip(q + 1, false);
    for (std::string_view noun : {"option", "choice"}) {
      if (word_at(q, noun)) q = skip(q + noun.size(), false);
    }
    std::optional<char> next = letter_at(q);
    if (!next || !valid(*next)) break;
    list.letters.push_back(*next);
    list.end = close(q + 1);
    joined_by_word = joined_by_word || word;
  }
  bool plural = false;
  if (!joined_by_word && list.letters.size() > 1) {
    const std::size_t after = skip(list.end, false);
    if (after < text_.size() && !is_clause_end(text_[after]) && !rejection_at(list.end, &plural)) {
      list.letters.resize(1);
      list.end = first_end;
    }
  }
  return list;
}

// The letter at `pos` continues a list ("B and C", "A, D"): the list's first letter speaks
// for it.
bool Scanner::continues_list(std::size_t pos) const {
  std::size_t p = pos;
  while (p > 0 && (text_[p - 1] == ' ' || text_[p - 1] == '(')) --p;
  bool joined = false;
  for (std::string_view joiner : {"and/or", "and", "or", "nor"}) {
    if (word_before(p, joiner)) {
      p -= joiner.size();
      joined = true;
      break;
    }
  }
  while (p > 0 && text_[p - 1] == ' ') --p;
  if (!joined && p > 0 && (text_[p - 1] == ',' || text_[p - 1] == '/' || text_[p - 1] == '&')) {
    --p;
    joined = true;
  }
  if (!joined) return false;
  while (p > 0 && (text_[p - 1] == ' ' || text_[p - 1] == ')' || is_decoration(text_[p - 1]))) {
    --p;
  }
  if (p == 0) return false;
  const std::optional<char> letter = letter_at(p - 1);
  return letter && valid(*letter);
}

// At `pos`, a verb rejecting what precedes it: "is wrong", "are incorrect", "can be ruled out".
// `plural` when the verb is plural ("are", "were"). Returns the position after the cue.
std::optional<std::size_t> Scanner::rejection_at(std::size_t pos, bool* plural) const {
  std::size_t p = skip(pos, false);
  if (p < low_.size() && low_[p] == ',') p = skip(p + 1, false);
  *plural = false;
  bool verb = false;
  for (std::string_view v : {"are", "were", "is", "was", "would be", "can be", "should be", "seems",
                             "seem", "appears", "appear", "has been", "have been"}) {
    if (word_at(p, v)) {
      *plural = v == "are" || v == "were" || v == "seem" || v == "appear" || v == "have been";
      p = skip(p + v.size(), false);
      verb = true;
      break;
    }
  }
  if (!verb) return std::nullopt;
  for (std::string_view adverb : {"both", "all", "also", "clearly", "definitely", "likely"}) {
    if (word_at(p, adverb)) p = skip(p + adverb.size(), false);
  }
  for (std::string_view cue :
       {"wrong", "incorrect", "false", "not", "excluded", "eliminated", "ruled out", "unlikely",
        "less likely", "inappropriate", "contraindicated", "distractors", "inferior", "implausible",
        "less appropriate", "out"}) {
    if (word_at(p, cue)) return p + cue.size();
  }
  return std::nullopt;
}

// The statement's answer once the letters after it are read: nothing when they are rejected
// ("A and D are wrong"), a hedge when several remain ("B or C").
std::optional<Target> Scanner::resolve_list(char letter, std::size_t position) const {
  LetterList list = letter_list(position);
  bool plural = false;
  if (rejection_at(list.end, &plural)) {
    if (list.letters.size() == 1 || plural) return std::nullopt;
    list.letters.pop_back();  // "B and C is wrong": C alone is rejected
  }
  const bool same = std::all_of(list.letters.begin(), list.letters.end(),
                                [&](char l) { return l == list.letters.front(); });
  return Target{to_upper(letter), position, !same};
}

bool rejected_option(std::string_view before, std::string_view after) {
  // Before the option: "not", "avoid", "rather than", "rules out" ... within its last words.
  if (std::size_t stop = before.find_last_of(",.;:!?"); stop != std::string_view::npos) {
    before.remove_prefix(stop + 1);
  }
  if (before.size() > 28) before.remove_prefix(before.size() - 28);
  if (contains_any_word(
          before, {"not",       "avoid",     "avoiding", "rather than", "instead of",  "rule out",
                   "rules out", "ruled out", "exclude",  "excludes",    "excluding",   "against",
                   "unlike",    "than",      "without",  "stop",        "discontinue", "withhold",
                   "never",     "nor",       "neither",  "except",      "over",        "no"})) {
    return true;
  }
  // After it, up to the end of its clause or a subordinate reason ("because it prolongs ...").
  std::size_t end = after.find_first_of(".;!?\n");
  if (end == std::string_view::npos) end = after.size();
  for (std::string_view cut :
       {" because", " since", " as ", " which", " due to", " given", " whereas", " while", " but ",
        " although", " though", " so ", " for "}) {
    end = std::min(end, after.find(cut));
  }
  after = after.substr(0, std::min<std::size_t>(end, 80));
  if (after.find("n't") != std::string_view::npos) return true;
  return contains_any_word(after, {"avoid",
                                   "avoided",
                                   "contraindicated",
                                   "contraindication",
                                   "not",
                                   "never",
                                   "unlikely",
                                   "incorrect",
                                   "wrong",
                                   "inappropriate",
                                   "ruled out",
                                   "excluded",
                                   "less likely",
                                   "less effective",
                                   "less appropriate",
                                   "no role",
                                   "no benefit",
                                   "worsen",
                                   "worsens",
                                   "harmful",
                                   "dangerous",
                                   "ineffective",
                                   "unsafe",
                                   "inferior",
                                   "cannot",
                                   "eliminated",
                                   "is out"});
}

// The text of exactly one option appears in the reply (whole words; not inside a longer
// option's text) and the reply does not reject it.
std::optional<char> Scanner::option_text_anywhere() const {
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
  std::sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
  });
  const std::size_t longest = longest_option_;
  std::set<char> letters;
  for (std::size_t i = 0; i < hits.size(); ++i) {
    const Hit& hit = hits[i];
    // Hits that could contain this one start at most `longest` bytes before it.
    bool inside_longer = false;
    for (std::size_t j = i; j-- > 0 && hits[j].begin + longest >= hit.begin;) {
      const Hit& other = hits[j];
      if (other.letter != hit.letter && hit.end <= other.end &&
          other.end - other.begin > hit.end - hit.begin) {
        inside_longer = true;
        break;
      }
    }
    if (inside_longer || letters.contains(hit.letter)) continue;
    // Context stops at the neighbouring hits of other options: "A is preferred, but B should be
    // avoided" rejects B only.
    std::size_t from = hit.begin > 120 ? hit.begin - 120 : 0;
    if (i > 0 && hits[i - 1].end <= hit.begin) from = std::max(from, hits[i - 1].end);
    std::size_t to = std::min(reply.size(), hit.end + 120);
    if (i + 1 < hits.size() && hits[i + 1].begin >= hit.end) to = std::min(to, hits[i + 1].begin);
    const std::string_view view = reply;
    if (rejected_option(view.substr(from, hit.begin - from), view.substr(hit.end, to - hit.end))) {
      continue;
    }
    letters.insert(hit.letter);
    if (letters.size() > 1) return std::nullopt;
  }
  if (letters.size() == 1) return *letters.begin();
  return std::nullopt;
}

}  // namespace clinbench::extract_detail
