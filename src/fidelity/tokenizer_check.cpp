// Tokenizer check across two files of one model: the warm-up's round trip, extended to every
// item of the dataset (docs/fidelity.md, "Tokenizer check").
#include <fmt/format.h>

#include "backend/llama_probe.h"
#include "clinbench/evaluate.h"
#include "clinbench/fidelity.h"

namespace clinbench {

namespace {

std::string describe_token(const VocabFacts& f, size_t id) {
  return fmt::format("'{}' (attr {})", f.token_text[id], f.token_attr[id]);
}

std::string token_at(const LlamaProbe& p, const std::vector<int32_t>& toks, size_t i) {
  if (i >= toks.size()) return "(end)";
  return fmt::format("{} '{}'", toks[i], p.piece(toks[i]));
}

// The first place two token sequences part, as "N tokens; position K: TOKEN".
void compare_tokens(const LlamaProbe& pa, const std::vector<int32_t>& a, const LlamaProbe& pb,
                    const std::vector<int32_t>& b, const std::string& where,
                    std::vector<TokenizerDifference>& out) {
  if (a == b) return;
  size_t k = 0;
  while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
  out.push_back({"item", where,
                 fmt::format("{} tokens; position {}: {}", a.size(), k, token_at(pa, a, k)),
                 fmt::format("{} tokens; position {}: {}", b.size(), k, token_at(pb, b, k))});
}

}  // namespace

Result<TokenizerCheck> compare_tokenizers(const std::string& path_a, const std::string& path_b,
                                          const std::vector<Item>& items,
                                          const PromptConfig& prompts) {
  auto pa = LlamaProbe::open_vocab(path_a);
  if (!pa) return std::unexpected(pa.error());
  auto pb = LlamaProbe::open_vocab(path_b);
  if (!pb) return std::unexpected(pb.error());
  const VocabFacts a = (*pa)->vocab_facts();
  const VocabFacts b = (*pb)->vocab_facts();
  TokenizerCheck check;
  check.path_a = path_a;
  check.path_b = path_b;
  check.n_vocab_a = static_cast<int>(a.token_text.size());
  check.n_vocab_b = static_cast<int>(b.token_text.size());
  auto& d = check.differences;
  if (a.token_text.size() != b.token_text.size()) {
    d.push_back({"vocab_size", "", std::to_string(a.token_text.size()),
                 std::to_string(b.token_text.size())});
  }
  if (a.model_type != b.model_type)
    d.push_back({"tokenizer_model", "", a.model_type, b.model_type});
  const size_t n = std::min(a.token_text.size(), b.token_text.size());
  for (size_t i = 0; i < n; ++i) {
    if (a.token_text[i] != b.token_text[i] || a.token_attr[i] != b.token_attr[i]) {
      d.push_back({"token", std::to_string(i), describe_token(a, i), describe_token(b, i)});
    }
  }
  for (const auto& [name, id] : a.special) {
    const int32_t other = b.special.at(name);
    if (id != other) d.push_back({"special", name, std::to_string(id), std::to_string(other)});
  }
  if (a.add_bos != b.add_bos) {
    d.push_back({"add_bos", "", a.add_bos ? "true" : "false", b.add_bos ? "true" : "false"});
  }
  if (a.add_eos != b.add_eos) {
    d.push_back({"add_eos", "", a.add_eos ? "true" : "false", b.add_eos ? "true" : "false"});
  }
  if (a.chat_template != b.chat_template) {
    d.push_back({"chat_template", "", a.chat_template, b.chat_template});
  }
  for (const Item& item : items) {
    for (Scoring s : {Scoring::kLoglik, Scoring::kGenerate}) {
      const auto messages = opening_messages(item, prompts, s);
      const std::string prefix = s == Scoring::kLoglik ? "Answer:" : "";
      auto ta = (*pa)->prompt_tokens(messages, prefix);
      auto tb = (*pb)->prompt_tokens(messages, prefix);
      const std::string where = fmt::format("{} ({} prompt)", item.id, to_string(s));
      if (!ta || !tb) {
        d.push_back({"item", where, ta ? "rendered" : ta.error().message,
                     tb ? "rendered" : tb.error().message});
        continue;
      }
      compare_tokens(**pa, *ta, **pb, *tb, where, d);
    }
    ++check.items_checked;
  }
  return check;
}

}  // namespace clinbench
