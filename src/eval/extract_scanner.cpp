// The answer extractor's scanner (extract_scanner.h): rule order, and the explicit statements
// (boxed, <answer> tags, "Answer: B" in the languages clinicians write, "I choose B", bare
// letter lines, "either B or C").
#include "eval/extract_scanner.h"

#include <algorithm>
#include <array>

#include "eval/extract_text.h"

namespace clinbench::extract_detail {

namespace {

// How much of a \boxed{}, an <answer> tag or a line an option's text is looked for in: enough
// for any option, and a bound on the work for degenerate replies.
constexpr std::size_t kContentWindow = 512;

// Words naming the answer, in the languages clinicians write in. CJK and other non-Latin words
// need no word boundary.
constexpr std::string_view kAnswerWords[] = {
    "answer",
    "antwort",
    "antwoord",
    "respuesta",
    "r\xC3\xA9ponse",  // réponse
    "resposta",
    "risposta",
    "cevap",
    "yan\xC4\xB1t",                                                  // yanıt
    "\xD0\xBE\xD1\x82\xD0\xB2\xD0\xB5\xD1\x82",                      // ответ
    "\xD0\x9E\xD1\x82\xD0\xB2\xD0\xB5\xD1\x82",                      // Ответ
    "\xD0\x9E\xD0\xA2\xD0\x92\xD0\x95\xD0\xA2",                      // ОТВЕТ
    "\xE7\xAD\x94\xE6\xA1\x88",                                      // 答案
    "\xE7\xAD\x94",                                                  // 答
    "\xE5\x9B\x9E\xE7\xAD\x94",                                      // 回答
    "\xE6\xAD\xA3\xE8\xA7\xA3",                                      // 正解
    "\xE7\xAD\x94\xE3\x81\x88",                                      // 答え
    "\xEC\xA0\x95\xEB\x8B\xB5",                                      // 정답
    "\xEB\x8B\xB5",                                                  // 답
    "\xD8\xA7\xD9\x84\xD8\xA5\xD8\xAC\xD8\xA7\xD8\xA8\xD8\xA9",      // الإجابة
    "\xD8\xA7\xD9\x84\xD8\xAC\xD9\x88\xD8\xA7\xD8\xA8",              // الجواب
    "\xE0\xA4\x89\xE0\xA4\xA4\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA4\xB0",  // उत्तर
    "odpowied\xC5\xBA",                                              // odpowiedź
    "svar",
    "jawaban",
    "\xC4\x91\xC3\xA1p \xC3\xA1n",  // đáp án
    "\xC4\x90\xC3\xA1p \xC3\xA1n",  // Đáp án
    "option",
    "choice",
    "\xE9\x80\x89\xE9\xA1\xB9",  // 选项
    "alternativa",
};

// Answer words after which a letter may follow with no verb or colon ("Doğru cevap B'dir",
// "सही उत्तर B है").
bool direct_letter_word(std::string_view word) {
  return word == "cevap" || word == "yan\xC4\xB1t" ||
         word == "\xE0\xA4\x89\xE0\xA4\xA4\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA4\xB0";
}

// Adjectives that follow the answer word in other languages ("respuesta correcta es B").
constexpr std::string_view kAfterAnswerWords[] = {
    "final",
    "finale",
    "correcta",
    "correcto",
    "correcte",
    "correta",
    "correto",
    "corretta",
    "corretto",
    "juste",
    "exacta",
    "definitiva",
    "d\u00e9finitive",
    "\xD8\xA7\xD9\x84\xD8\xB5\xD8\xAD\xD9\x8A\xD8\xAD\xD8\xA9",  // الصحيحة
    "\xD8\xA7\xD9\x84\xD8\xB5\xD8\xAD\xD9\x8A\xD8\xAD",          // الصحيح
};

constexpr std::string_view kConnectorVerbs[] = {
    "isn't",
    "is",
    "would be",
    "would have been",
    "should be",
    "will be",
    "must be",
    "appears to be",
    "seems to be",
    "has to be",
    "was",
    "remains",
    "ist",
    "lautet",
    "w\xC3\xA4re",  // wäre
    "es",
    "ser\u00eda",  // sería
    "est",
    "serait",
    "\xC3\xA9",  // é
    "seria",
    "\xC3\xA8",  // è
    "sarebbe",
    "\xE6\x98\xAF",                          // 是
    "\xE4\xB8\xBA",                          // 为
    "\xE7\x82\xBA",                          // 為
    "\xE9\x80\x89",                          // 选
    "\xE3\x81\xAF",                          // は
    "\xEC\x9D\x80",                          // 은
    "\xEB\x8A\x94",                          // 는
    "\xEC\x9D\xB4",                          // 이
    "\xD9\x87\xD9\x8A",                      // هي
    "\xD9\x87\xD9\x88",                      // هو
    "\xE5\xBA\x94\xE4\xB8\xBA",              // 应为
    "\xE5\xBA\x94\xE8\xAF\xA5\xE6\x98\xAF",  // 应该是
};

constexpr std::string_view kAdverbs[] = {
    "therefore", "thus",   "clearly", "likely",   "probably", "definitely",
    "most",      "indeed", "then",    "actually", "hence",    "still",
};

// Words between a statement's verb and its letter: "option C", "la B", "選項 C".
constexpr std::string_view kTargetWords[] = {
    "option",
    "choice",
    "letter",
    "the",
    "la",
    "el",
    "le",
    "l'",
    "a",
    "die",
    "der",
    "opci\xC3\xB3n",
    "opcion",
    "op\xC3\xA7\xC3\xA3o",
    "alternativa",
    "lettre",
    "opzione",
    "variante",
    "\xD0\xB2\xD0\xB0\xD1\x80\xD0\xB8\xD0\xB0\xD0\xBD\xD1\x82",  // вариант
    "\xE9\x80\x89\xE9\xA1\xB9",                                  // 选项
    "\xE9\x81\xB8\xE9\xA0\x85",                                  // 選項
    "\xE9\x80\x89",                                              // 选
};

constexpr std::string_view kChoiceVerbs[] = {
    "choose",
    "chose",
    "select",
    "pick",
    "go with",
    "going with",
    "opt for",
    "settle on",
    "i'd say",
    "i would say",
    "i'll say",
    "i will say",
    "i'd answer",
    "i would answer",
    "i'll answer",
    "recommend",
    "go for",
    "\xE9\x80\x89\xE6\x8B\xA9",  // 选择
    "\xE9\x81\xB8\xE6\x93\x87",  // 選擇
    "w\xC3\xA4hle",              // wähle
    "elijo",
    "escojo",
    "choisis",
    "escolho",
    "scelgo",
    "entscheide mich f\xC3\xBCr",
    "me quedo con",
};

Extraction found(const Candidate& c) { return {std::string(1, c.letter), c.rule}; }

// The candidate furthest into the reply; on a tie the one pushed first.
std::optional<Candidate> last_of(const std::vector<Candidate>& candidates) {
  if (candidates.empty()) return std::nullopt;
  return *std::max_element(
      candidates.begin(), candidates.end(),
      [](const Candidate& a, const Candidate& b) { return a.position < b.position; });
}

}  // namespace

Scanner::Scanner(std::string text, const std::map<std::string, std::string>& options)
    : text_(std::move(text)), low_(lower(text_)) {
  for (const auto& [key, value] : options) {
    if (key.size() == 1 && is_alpha(key[0])) {
      letters_.insert(to_upper(key[0]));
      std::string norm = normalize(fold_width(value));
      longest_option_ = std::max(longest_option_, norm.size());
      if (!norm.empty()) option_texts_.emplace_back(to_upper(key[0]), std::move(norm));
    }
  }
  if (options.empty()) letters_ = {'A', 'B', 'C', 'D', 'E'};
}

Extraction Scanner::run() const {
  std::vector<Candidate> statements;
  boxed(statements);
  answer_tags(statements);
  answer_statements(statements);
  choice_statements(statements);
  bare_letter_lines(statements);
  hedge_statements(statements);
  // "B is correct" is weaker: it also appears in option-by-option explanations after the
  // answer ("Answer: B. Note: A is correct only in children").
  std::vector<Candidate> affirmations;
  correct_statements(affirmations);
  subject_statements(affirmations);
  match_statements(affirmations);
  if (auto decided = decide(statements, affirmations)) return *decided;
  if (auto letter = bold_letter()) return {std::string(1, *letter), ExtractionRule::kBoldLetter};
  if (auto letter = letter_label()) return {std::string(1, *letter), ExtractionRule::kLetterLabel};
  if (auto letter = option_text_anywhere()) {
    return {std::string(1, *letter), ExtractionRule::kOptionText};
  }
  return {};
}

// The last statement wins. When it hedges ("B or C"), an affirmation after it may still settle
// the answer ("... C is correct"); otherwise the reply is ambiguous.
std::optional<Extraction> Scanner::decide(const std::vector<Candidate>& statements,
                                          const std::vector<Candidate>& affirmations) {
  const std::optional<Candidate> statement = last_of(statements);
  if (statement && !statement->hedge) return found(*statement);
  std::optional<Candidate> affirmation;
  for (const Candidate& c : affirmations) {
    if (statement && c.position <= statement->position) continue;
    if (!affirmation || c.position > affirmation->position) affirmation = c;
  }
  if (affirmation && !affirmation->hedge) return found(*affirmation);
  if (statement || affirmation) return Extraction{std::nullopt, ExtractionRule::kAmbiguous};
  return std::nullopt;
}

// The letter a statement names, starting at `pos` (just after "is", ":", "choose"...):
// decoration, "(", "option"/"choice"/"la"..., then a letter.
std::optional<std::pair<char, std::size_t>> Scanner::target_letter(std::size_t pos) const {
  pos = skip(pos, /*newlines=*/true);
  for (int round = 0; round < 5; ++round) {
    if (auto letter = letter_at(pos)) return std::make_pair(*letter, pos);
    const std::size_t before = pos;
    if (pos < text_.size() && (text_[pos] == '(' || text_[pos] == '[' || text_[pos] == '{')) {
      pos = skip(pos + 1, true);
    }
    for (std::string_view prefix : {"\\boxed{", "\\text{", "\\textbf{", "\\mathrm{", "\\mathbf{"}) {
      if (low_.compare(pos, prefix.size(), prefix) == 0) pos = skip(pos + prefix.size(), true);
    }
    for (std::string_view word : kTargetWords) {
      if (word_at(pos, word)) {
        pos = skip(pos + word.size(), true);
        break;
      }
    }
    if (pos == before) break;
  }
  return std::nullopt;
}

// What a statement names: a letter (with the letters listed after it), or after "not"/"neither"
// the letter the contrast affirms ("not A but C").
std::optional<Target> Scanner::statement_target(std::size_t pos) const {
  const std::size_t p = skip(pos, true);
  // "not", "neither", and "nicht ... sondern", "no ... sino", "pas ... mais", "non ... ma".
  for (std::string_view negation :
       {"not", "neither", "nicht", "no", "pas", "non", "n\xC3\xA3o" /* não */,
        "\xE4\xB8\x8D\xE6\x98\xAF" /* 不是 */}) {
    if (word_at(p, negation)) return contrast_target(p + negation.size());
  }
  auto target = target_letter(p);
  if (!target || !valid(target->first)) return std::nullopt;
  return resolve_list(target->first, target->second);
}

// After "not", "n't" or "neither": "not A but C", "isn't A; it's C", "neither A nor B fits;
// D does". The contrast ("but", "rather", "instead", ";", a dash) must come within the
// sentence, shortly after the negated letters.
std::optional<Target> Scanner::contrast_target(std::size_t pos) const {
  auto negated = target_letter(pos);
  if (!negated) return std::nullopt;
  std::size_t q = letter_list(negated->second).end;
  const std::size_t limit = std::min(text_.size(), q + 60);
  bool contrast = false;
  while (q < limit && !contrast) {
    const char c = low_[q];
    if (c == '.' || c == '!' || c == '?' || c == '\n') return std::nullopt;
    if (c == ';' || low_.compare(q, 3, "\xE2\x80\x94") == 0) {
      contrast = true;
      q += c == ';' ? 1 : 3;
      break;
    }
    for (std::string_view word : {"but", "rather", "instead", "it's", "it is", "sondern", "sino",
                                  "mais", "ma", "mas", "\xE8\x80\x8C\xE6\x98\xAF" /* 而是 */}) {
      if ((word_starts_at(q) || !is_alnum(word.front())) && word_at(q, word)) {
        contrast = true;
        q += word.size();
        break;
      }
    }
    if (!contrast) ++q;
  }
  if (!contrast) return std::nullopt;
  for (int round = 0; round < 8 && q < text_.size(); ++round) {
    q = skip(q, false);
    if (q < text_.size() && (text_[q] == ',' || text_[q] == ':')) {
      ++q;
      continue;
    }
    if (auto letter = letter_at(q); letter && valid(*letter)) return resolve_list(*letter, q);
    bool moved = false;
    for (std::string_view word : {"rather", "instead", "it's", "it is", "its", "it", "is", "the",
                                  "answer", "correct", "right", "one", "option", "choice"}) {
      if (word_at(q, word)) {
        q += word.size();
        moved = true;
        break;
      }
    }
    if (!moved) break;
  }
  return std::nullopt;
}

// The option whose (normalized) text starts `text`, the longest when several do.
std::optional<char> Scanner::option_at_start(std::string_view text) const {
  // Enough for the longest option and the clause after it (for the rejection cues).
  std::string norm = normalize(text.substr(0, longest_option_ + 160));
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
  if (tie || !best) return std::nullopt;
  if (rejected_option("", std::string_view(norm).substr(best_size))) return std::nullopt;
  return best;
}

// Content of \boxed{...} or <answer>...</answer>: a letter label, else an option's text.
std::optional<char> Scanner::letter_in_content(std::string_view content) const {
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
  if (auto letter = label_letter(clean, /*allow_text=*/true, /*lowercase_alone=*/true)) {
    return letter;
  }
  if (normalize(clean).empty()) return std::nullopt;
  return option_at_start(clean);
}

// A letter label: optional "(" or "[", a letter, optional ")" or "]", optional "." or ":",
// then the end, or (allow_text) a space and text after some label punctuation. Upper case;
// lower case only inside parentheses ("(b)", "b)") or, with lowercase_alone, when the letter
// is all there is ("b", "b.").
std::optional<char> Scanner::label_letter(std::string_view s, bool allow_text,
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

void Scanner::boxed(std::vector<Candidate>& out) const {
  for (std::size_t pos = low_.find("\\boxed{"); pos != std::string::npos;
       pos = low_.find("\\boxed{", pos + 1)) {
    const std::size_t begin = pos + 7;
    const std::size_t limit = std::min(text_.size(), begin + kContentWindow);
    int depth = 1;
    std::size_t end = begin;
    while (end < limit && depth > 0) {
      if (text_[end] == '{') ++depth;
      if (text_[end] == '}') --depth;
      if (depth > 0) ++end;
    }
    if (depth > 0) continue;  // not closed within the window: no answer
    if (auto letter = letter_in_content(std::string_view(text_).substr(begin, end - begin))) {
      out.push_back({end, *letter, ExtractionRule::kBoxed});  // ends after "answer is $\boxed{"
    }
  }
}

void Scanner::answer_tags(std::vector<Candidate>& out) const {
  for (std::size_t pos = low_.find("<answer>"); pos != std::string::npos;
       pos = low_.find("<answer>", pos + 1)) {
    const std::size_t begin = pos + 8;
    std::string_view content = std::string_view(low_).substr(begin, kContentWindow);
    content = content.substr(0, std::min(content.find("</answer>"), content.find("<answer>")));
    const std::size_t end = begin + content.size();
    if (auto letter = letter_in_content(std::string_view(text_).substr(begin, end - begin))) {
      out.push_back({end, *letter, ExtractionRule::kAnswerTag});
    }
  }
}

// After an answer word: a connector (":", "=", "-", "is", "would be", "es", "是", ...) then the
// target. Returns the position after the connector.
std::optional<std::size_t> Scanner::connector(std::size_t pos) const {
  pos = skip(pos, /*newlines=*/false);
  for (int round = 0; round < 2; ++round) {
    for (std::string_view word : {"choice", "option", "letter"}) {
      if (word_at(pos, word)) pos = skip(pos + word.size(), false);
    }
    for (std::string_view word : kAfterAnswerWords) {
      if (word_at(pos, word)) pos = skip(pos + word.size(), false);
    }
  }
  if (pos < low_.size() && (low_[pos] == ':' || low_[pos] == '=')) return pos + 1;
  if (low_.compare(pos, 2, "->") == 0) return pos + 2;
  if (pos < low_.size() && low_[pos] == '-' && pos + 1 < low_.size() && low_[pos + 1] == ' ') {
    return pos + 1;
  }
  if (low_.compare(pos, 3, "\xE2\x80\x94") == 0 || low_.compare(pos, 3, "\xE2\x80\x93") == 0) {
    return pos + 3;  // em and en dashes
  }
  bool verb = false;
  for (std::string_view v : kConnectorVerbs) {
    if (word_at(pos, v)) {
      pos += v.size();
      verb = true;
      break;
    }
  }
  if (!verb) return std::nullopt;
  for (int round = 0; round < 2; ++round) {
    const std::size_t p = skip(pos, false);
    for (std::string_view a : kAdverbs) {
      if (word_at(p, a)) {
        pos = p + a.size();
        break;
      }
    }
  }
  const std::size_t p = skip(pos, false);
  if (p < low_.size() && low_[p] == ':') pos = p + 1;
  return pos;
}

// The connector between an answer word and its letter is conditional ("would be").
bool Scanner::conditional_connector(std::size_t keyword_end, std::size_t after) const {
  std::string_view between = std::string_view(low_).substr(keyword_end, after - keyword_end);
  return between.find("would") != std::string_view::npos ||
         between.find("w\xC3\xA4re") != std::string_view::npos ||
         between.find("ser\u00eda") != std::string_view::npos ||
         between.find("serait") != std::string_view::npos ||
         between.find("sarebbe") != std::string_view::npos;
}

void Scanner::answer_statements(std::vector<Candidate>& out) const {
  for (std::string_view keyword : kAnswerWords) {
    const bool text_allowed = keyword != "option" && keyword != "choice" &&
                              keyword != "alternativa" && keyword != "\xE9\x80\x89\xE9\xA1\xB9";
    for (std::size_t pos = low_.find(keyword); pos != std::string::npos;
         pos = low_.find(keyword, pos + 1)) {
      if (!word_starts_at(pos) || !word_at(pos, keyword)) continue;
      answer_statement_at(pos, keyword.size(), text_allowed, out);
      if (direct_letter_word(keyword)) {
        const std::size_t p = skip(pos + keyword.size(), false);
        if (auto letter = letter_at(p); letter && is_upper(text_[p]) && valid(*letter)) {
          out.push_back({p, *letter, ExtractionRule::kAnswerStatement});
        }
      }
    }
  }
}

// One "answer is ..." at `pos`. A statement whose subject rejects ("the incorrect answer is A",
// "I don't think the answer is B") or that is hypothetical ("if she were pregnant, the answer
// would be D") names nothing.
void Scanner::answer_statement_at(std::size_t pos, std::size_t keyword_size, bool text_allowed,
                                  std::vector<Candidate>& out) const {
  const std::optional<std::size_t> after = connector(pos + keyword_size);
  if (!after) return;
  std::size_t subject = std::max(clause_begin(pos), pos > 40 ? pos - 40 : 0);
  std::string_view before = std::string_view(low_).substr(subject, pos - subject);
  if (std::size_t cut = before.find_last_of(",:"); cut != std::string_view::npos) {
    before.remove_prefix(cut + 1);
  }
  for (std::string_view word :
       {"incorrect ", "wrong ", "false ", "not ", "n't ", "never ", "inappropriate ", "worst ",
        "\xE4\xB8\x8D" /* 不 */, "\xE9\x94\x99\xE8\xAF\xAF" /* 错误 */}) {
    if (before.find(word) != std::string_view::npos) return;
  }
  const bool conditional = conditional_connector(pos + keyword_size, *after);
  std::optional<Target> target;
  if (low_.compare(*after - 3, 3, "n't") == 0) {
    target = contrast_target(*after);  // "the answer isn't A; it's C"
  } else {
    target = statement_target(*after);
  }
  if (target) {
    if (!hypothetical(pos, target->position, conditional)) {
      out.push_back(
          {target->position, target->letter, ExtractionRule::kAnswerStatement, target->hedge});
    }
    return;
  }
  if (!text_allowed) return;  // "the best option is to wait" is no option text
  // The option's text instead of its letter: up to the end of the line.
  const std::size_t start = skip(*after, /*newlines=*/false);
  std::string_view line = std::string_view(text_).substr(start, kContentWindow);
  line = line.substr(0, line.find('\n'));
  if (auto letter = option_at_start(line)) {
    if (!hypothetical(pos, start, conditional)) {
      out.push_back({start, *letter, ExtractionRule::kAnswerStatementText});
    }
  }
}

void Scanner::choice_statements(std::vector<Candidate>& out) const {
  for (std::string_view verb : kChoiceVerbs) {
    for (std::size_t pos = low_.find(verb); pos != std::string::npos;
         pos = low_.find(verb, pos + 1)) {
      if (!word_starts_at(pos) || !word_at(pos, verb) || negated_before(pos)) continue;
      std::size_t after = pos + verb.size();
      if (after < low_.size() && low_[after] == ':') ++after;
      auto letter = target_letter(after);
      if (!letter || !valid(letter->first)) continue;
      auto target = resolve_list(letter->first, letter->second);
      if (!target || hypothetical(pos, target->position, false)) continue;
      out.push_back(
          {target->position, target->letter, ExtractionRule::kChoiceStatement, target->hedge});
    }
  }
}

void Scanner::bare_letter_lines(std::vector<Candidate>& out) const {
  std::size_t start = 0;
  while (start <= text_.size()) {
    std::size_t end = text_.find('\n', start);
    if (end == std::string::npos) end = text_.size();
    std::string_view line = std::string_view(text_).substr(start, end - start);
    // "Option C" and "Choice C" alone on a line say no less than "C".
    std::size_t word = start;
    while (word < end && (is_space(text_[word]) || is_decoration(text_[word]))) ++word;
    for (std::string_view name : {"option", "choice"}) {
      if (word_at(word, name)) {
        line = std::string_view(text_).substr(word + name.size(), end - word - name.size());
      }
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

// "either B or C", "torn between B and C": a hedge with no statement word. Only when the
// letters end the clause or are called possible answers: "either B or C could be used in
// children" compares options, it does not hedge.
void Scanner::hedge_statements(std::vector<Candidate>& out) const {
  for (std::string_view word : {"either", "between"}) {
    for (std::size_t pos = low_.find(word); pos != std::string::npos;
         pos = low_.find(word, pos + 1)) {
      if (!word_starts_at(pos) || !word_at(pos, word)) continue;
      if (word == "between" && !hesitation_before(pos)) continue;
      auto letter = target_letter(pos + word.size());
      if (!letter || !valid(letter->first)) continue;
      const LetterList list = letter_list(letter->second);
      if (list.letters.size() < 2 || !hedge_predicate(list.end)) continue;
      out.push_back({letter->second, letter->first, ExtractionRule::kAmbiguous, true});
    }
  }
}

// "torn between", "decide between", "choose between": hesitation, not a comparison.
bool Scanner::hesitation_before(std::size_t pos) const {
  for (std::string_view word : {"torn", "decide", "deciding", "choose", "choosing", "undecided",
                                "split", "hesitate", "hesitating", "narrowed it down to"}) {
    if (word_before(pos, word)) return true;
  }
  return false;
}

// After hedged letters: the end of the clause, or "could be right", "is possible"...
bool Scanner::hedge_predicate(std::size_t pos) const {
  std::size_t p = skip(pos, false);
  if (p >= text_.size() || is_clause_end(text_[p]) || text_[p] == ',') return true;
  bool verb = false;
  for (std::string_view v : {"could be", "might be", "may be", "would be", "is", "are", "seem",
                             "seems", "both seem", "are both"}) {
    if (word_at(p, v)) {
      p = skip(p + v.size(), false);
      verb = true;
      break;
    }
  }
  if (!verb) return false;
  for (std::string_view a : {"equally", "both", "the"}) {
    if (word_at(p, a)) p = skip(p + a.size(), false);
  }
  for (std::string_view cue :
       {"correct", "right", "answer", "possible", "plausible", "reasonable", "acceptable", "argued",
        "defended", "justified", "likely", "valid", "true", "best"}) {
    if (word_at(p, cue)) return true;
  }
  return false;
}

}  // namespace clinbench::extract_detail
