// The answer extractor's affirmations (extract_scanner.h): "B is correct", "Metoclopramide (C)
// is the drug of choice", "the most appropriate treatment is C", "that matches option C"; and
// the weaker rules, one bold letter and one lettered line.
#include <algorithm>

#include "eval/extract_scanner.h"
#include "eval/extract_text.h"

namespace clinbench::extract_detail {

namespace {

bool contains_any(std::string_view text, std::initializer_list<std::string_view> words) {
  for (std::string_view w : words) {
    for (std::size_t pos = text.find(w); pos != std::string_view::npos;
         pos = text.find(w, pos + 1)) {
      const std::size_t end = pos + w.size();
      const bool left = pos == 0 || !is_alnum(text[pos - 1]) || !is_alnum(w.front());
      const bool right = end >= text.size() || !is_alnum(text[end]) || !is_alnum(w.back());
      if (left && right) return true;
    }
  }
  return false;
}

}  // namespace

// "B is correct", "Option C is the best answer", "(C) Dexamethasone is the correct choice".
void Scanner::correct_statements(std::vector<Candidate>& out) const {
  for (std::size_t pos = 0; pos < text_.size(); ++pos) {
    if (!is_alpha(text_[pos])) continue;
    std::optional<char> letter = letter_at(pos);
    if (letter && valid(*letter)) correct_statement_at(pos, *letter, out);
  }
}

void Scanner::correct_statement_at(std::size_t pos, char letter,
                                   std::vector<Candidate>& out) const {
  const bool named = preceded_by_option_word(pos);
  if (!is_upper(text_[pos]) && !named) return;
  if (!named && !at_statement_start(pos) && !preceded_by_own_text(pos, letter)) return;
  if (negated_before(pos) || continues_list(pos)) return;
  const LetterList list = letter_list(pos);  // "B or C is correct"
  std::size_t p = list.end;
  while (p < text_.size() && (text_[p] == '.' || text_[p] == ':' || is_decoration(text_[p]))) {
    ++p;
  }
  p = skip(p, false);
  // The option's own text may follow its letter.
  for (const auto& [option_letter, option] : option_texts_) {
    if (option_letter == letter && low_.compare(p, option.size(), option) == 0) {
      p = skip(p + option.size(), false);
      break;
    }
  }
  if (p < text_.size() && text_[p] == '(') {
    const std::size_t close = std::string_view(text_).substr(p, 200).find(')');
    if (close != std::string_view::npos) p = skip(p + close + 1, false);
  }
  if (p < low_.size() && low_[p] == ',') p = skip(p + 1, false);
  const std::optional<std::size_t> end = affirms_correct(p);
  if (!end || hypothetical(pos, *end, word_at(p, "would"))) return;
  const bool hedge = std::any_of(list.letters.begin(), list.letters.end(),
                                 [&](char l) { return l != list.letters.front(); });
  out.push_back({pos, letter, ExtractionRule::kCorrectStatement, hedge});
}

bool Scanner::preceded_by_option_word(std::size_t pos) const {
  std::size_t p = pos;
  while (p > 0 && (is_space(text_[p - 1]) || is_decoration(text_[p - 1]) || text_[p - 1] == '(' ||
                   text_[p - 1] == '[')) {
    --p;
  }
  for (std::string_view word : {"option", "choice", "answer", "\xE9\x80\x89\xE9\xA1\xB9"}) {
    if (word_before(p, word)) return true;
  }
  return false;
}

// "Metoclopramide (C)": the letter in parentheses right after its own option's text.
bool Scanner::preceded_by_own_text(std::size_t pos, char letter) const {
  if (pos == 0 || text_[pos - 1] != '(') return false;
  for (const auto& [option_letter, option] : option_texts_) {
    if (option_letter == letter && word_before(pos - 1, option)) return true;
  }
  return false;
}

// The letter starts a statement: at the start of the text or a line, after punctuation, after a
// connective ("so", "therefore"), or after CJK text (no spaces there); not in the middle of prose
// ("vitamin A is ...").
bool Scanner::at_statement_start(std::size_t pos) const {
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
  if (static_cast<unsigned char>(c) >= 0x80) return true;
  for (std::string_view word : {"so", "therefore", "thus", "hence", "then", "clearly", "think",
                                "believe", "that", "say", "and", "but", "whereas", "while"}) {
    if (word_before(p, word)) return true;
  }
  return false;
}

// At `pos`: "is correct", "is the best answer", "would be the most appropriate", "is the drug
// of choice", "正确"... Returns where the affirmation ends.
std::optional<std::size_t> Scanner::affirms_correct(std::size_t pos) const {
  for (std::string_view cjk :
       {"\xE9\xA1\xB9\xE6\xAD\xA3\xE7\xA1\xAE" /* 项正确 */, "\xE6\xAD\xA3\xE7\xA1\xAE" /* 正确 */,
        "\xE6\x98\xAF\xE6\xAD\xA3\xE7\xA1\xAE" /* 是正确 */, "\xE6\xAD\xA3\xE7\xA2\xBA" /* 正確 */,
        "\xE3\x81\x8C\xE6\xAD\xA3\xE3\x81\x97\xE3\x81\x84" /* が正しい */,
        "\xE3\x81\x8C\xE6\xAD\xA3\xE8\xA7\xA3" /* が正解 */,
        "\xEC\x9D\xB4 \xEC\xA0\x95\xEB\x8B\xB5" /* 이 정답 */,
        "\xEA\xB0\x80 \xEC\xA0\x95\xEB\x8B\xB5" /* 가 정답 */}) {
    if (low_.compare(pos, cjk.size(), cjk) == 0) return pos + cjk.size();
  }
  bool verb = false;
  for (std::string_view v :
       {"is", "are", "would be", "must be", "seems to be", "appears to be", "seems", "looks",
        "remains", "es", "est", "ist", "\xC3\xA8", "\xC3\xA9"}) {
    if (word_at(pos, v)) {
      pos = skip(pos + v.size(), false);
      verb = true;
      break;
    }
  }
  if (!verb) return std::nullopt;
  for (std::string_view adverb : {"definitely", "clearly", "therefore", "indeed", "thus", "also"}) {
    if (word_at(pos, adverb)) pos = skip(pos + adverb.size(), false);
  }
  for (std::string_view article : {"the", "a", "la", "le", "die"}) {
    if (word_at(pos, article)) {
      pos = skip(pos + article.size(), false);
      break;
    }
  }
  for (std::string_view phrase : {"correct",   "right",          "true",
                                  "answer",    "drug of choice", "treatment of choice",
                                  "preferred", "first-line",     "first line",
                                  "correcta",  "correcto",       "correcte",
                                  "correct",   "correta",        "correto",
                                  "corretta",  "richtig",        "richtige",
                                  "korrekt",   "bonne",          "juste"}) {
    if (word_at(pos, phrase)) return pos + phrase.size();
  }
  if (word_at(pos, "most")) {
    const std::size_t p = skip(pos + 4, false);
    for (std::string_view adjective :
         {"likely", "appropriate", "accurate", "correct", "suitable", "probable", "consistent",
          "reasonable", "effective", "specific", "sensitive", "useful", "helpful", "beneficial",
          "plausible", "fitting", "important", "definitive"}) {
      if (word_at(p, adjective)) return p + adjective.size();
    }
  }
  if (word_at(pos, "best")) return pos + 4;
  return std::nullopt;
}

// The copula ending right before the letter at `pos` ("... is C", "... would be option C",
// "...: C"): where it starts.
std::optional<std::size_t> Scanner::copula_before(std::size_t pos) const {
  std::size_t p = pos;
  for (int round = 0; round < 3; ++round) {
    while (p > 0 && (text_[p - 1] == ' ' || text_[p - 1] == '(' || is_decoration(text_[p - 1]))) {
      --p;
    }
    for (std::string_view word : {"option", "choice", "letter"}) {
      if (word_before(p, word)) p -= word.size();
    }
  }
  if (p > 0 && text_[p - 1] == ':') return p - 1;
  for (std::string_view verb : {"is", "be", "was", "remains", "es", "est", "ist", "\xC3\xA8",
                                "\xC3\xA9", "\xE6\x98\xAF" /* 是 */, "\xE4\xB8\xBA" /* 为 */}) {
    if (word_before(p, verb)) return p - verb.size();
  }
  return std::nullopt;
}

// "The most appropriate treatment is C", "the correct one is C", "the drug of choice would be
// option C": a subject that affirms, then a copula and the letter.
void Scanner::subject_statements(std::vector<Candidate>& out) const {
  for (std::size_t pos = 0; pos < text_.size(); ++pos) {
    if (!is_alpha(text_[pos])) continue;
    std::optional<char> letter = letter_at(pos);
    if (!letter || !valid(*letter)) continue;
    if (!is_upper(text_[pos]) && !preceded_by_option_word(pos)) continue;
    const std::optional<std::size_t> copula = copula_before(pos);
    if (!copula) continue;
    std::size_t begin = std::max(clause_begin(*copula), *copula > 100 ? *copula - 100 : 0);
    std::string_view subject = std::string_view(low_).substr(begin, *copula - begin);
    if (std::size_t cut = subject.rfind(" but "); cut != std::string_view::npos) {
      subject.remove_prefix(cut + 5);
    }
    if (contains_any(subject, {"incorrect", "wrong", "false", "not", "never", "inappropriate",
                               "worst", "contraindicated", "avoid", "avoided", "least", "unlikely",
                               "less", "except", "no"}) ||
        subject.find("n't") != std::string_view::npos) {
      continue;
    }
    if (!contains_any(subject, {"correct",     "right",
                                "best",        "most",
                                "preferred",   "of choice",
                                "first-line",  "first line",
                                "appropriate", "optimal",
                                "ideal",       "likely",
                                "probable",    "recommended",
                                "next step",   "accurate",
                                "correcta",    "correcte",
                                "richtige",    "corretta",
                                "correta",     "\xE6\xAD\xA3\xE7\xA1\xAE" /* 正确 */,
                                "\xE6\x9C\x80" /* 最 */})) {
      continue;
    }
    auto target = resolve_list(*letter, pos);
    if (!target || hypothetical(begin, pos,
                                subject.find("would") != std::string_view::npos ||
                                    low_.compare(*copula, 2, "be") == 0)) {
      continue;
    }
    out.push_back({pos, target->letter, ExtractionRule::kCorrectStatement, target->hedge});
  }
}

// "That matches option C", "this points to C", "consistent with option B".
void Scanner::match_statements(std::vector<Candidate>& out) const {
  for (std::string_view verb :
       {"matches", "match", "matching", "corresponds to", "correspond to", "corresponding to",
        "consistent with", "points to", "point to", "pointing to", "aligns with", "in keeping with",
        "leads to", "leading to", "leads us to", "fits"}) {
    for (std::size_t pos = low_.find(verb); pos != std::string::npos;
         pos = low_.find(verb, pos + 1)) {
      if (!word_starts_at(pos) || !word_at(pos, verb) || negated_before(pos)) continue;
      auto letter = target_letter(pos + verb.size());
      if (!letter || !valid(letter->first)) continue;
      if (!is_upper(text_[letter->second]) && !preceded_by_option_word(letter->second)) continue;
      auto target = resolve_list(letter->first, letter->second);
      if (!target || hypothetical(pos, target->position, false)) continue;
      out.push_back(
          {target->position, target->letter, ExtractionRule::kCorrectStatement, target->hedge});
    }
  }
  contrast_statements(out);
}

// "It's not A but C", "neither A nor B; D": the letter the contrast affirms.
void Scanner::contrast_statements(std::vector<Candidate>& out) const {
  for (std::string_view negation :
       {"not", "n't", "neither", "nicht", "no es", "pas", "non \xC3\xA8" /* non è */,
        "n\xC3\xA3o \xC3\xA9" /* não é */, "\xE4\xB8\x8D\xE6\x98\xAF" /* 不是 */}) {
    for (std::size_t pos = low_.find(negation); pos != std::string::npos;
         pos = low_.find(negation, pos + 1)) {
      if (!word_at(pos, negation) || (is_alnum(negation.front()) && !word_starts_at(pos))) {
        continue;
      }
      auto target = contrast_target(pos + negation.size());
      if (!target || hypothetical(pos, target->position, false)) continue;
      out.push_back(
          {target->position, target->letter, ExtractionRule::kCorrectStatement, target->hedge});
    }
  }
}

std::optional<char> Scanner::bold_letter() const {
  std::set<char> letters;
  std::size_t pos = text_.find("**");
  while (pos != std::string::npos) {
    const std::size_t close = text_.find("**", pos + 2);
    if (close == std::string::npos) break;
    const std::string_view inner = std::string_view(text_).substr(pos + 2, close - pos - 2);
    if (auto letter = label_letter(inner, true, false)) letters.insert(*letter);
    pos = text_.find("**", close + 2);
  }
  if (letters.size() == 1) return *letters.begin();
  return std::nullopt;
}

std::optional<char> Scanner::letter_label() const {
  std::set<char> letters;
  std::size_t start = 0;
  while (start <= text_.size()) {
    std::size_t end = text_.find('\n', start);
    if (end == std::string::npos) end = text_.size();
    std::string_view line = std::string_view(text_).substr(start, end - start);
    while (!line.empty() && (is_space(line.front()) || line.front() == '-' || line.front() == '*' ||
                             line.front() == '>')) {
      line.remove_prefix(1);
    }
    // Only the label itself: "B) text" -> "B)".
    std::size_t cut = 0;
    while (cut < line.size() && !is_space(line[cut])) ++cut;
    std::string_view label = line.substr(0, cut);
    const bool punctuated = !label.empty() && (label.back() == ')' || label.back() == '.' ||
                                               label.back() == ':' || label.back() == ']');
    const std::size_t at = label.data() - text_.data() + (label.starts_with('(') ? 1 : 0);
    if (punctuated && !genus_at(at)) {
      if (auto letter = label_letter(label, false, false)) letters.insert(*letter);
    }
    start = end + 1;
  }
  if (letters.size() == 1) return *letters.begin();
  return std::nullopt;
}

}  // namespace clinbench::extract_detail
