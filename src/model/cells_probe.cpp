#include "model/cells_probe.h"

#include <fmt/format.h>
#include <llama.h>

#include <algorithm>
#include <memory>

#include "model/backend_init.h"
#include "model/llama_chat.h"

namespace clinbench {

namespace {

struct ModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};

}  // namespace

Result<uint32_t> cells_needed(const std::string& path, const CellsProbe& probe) {
  ensure_llama_backend();
  llama_model_params mp = llama_model_default_params();
  mp.vocab_only = true;
  std::unique_ptr<llama_model, ModelDeleter> model(llama_model_load_from_file(path.c_str(), mp));
  if (!model) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("{}: the vocabulary did not load to size the context", path));
  }
  const LlamaChat chat(model.get());
  uint64_t need = 0;
  for (const auto& c : probe.conversations) {
    auto prompt = chat.render_for_reply(c.messages, probe.thinking);
    if (!prompt) return std::unexpected(prompt.error());
    uint64_t reply = probe.max_tokens;
    if (prompt->reply.thinks && probe.reasoning_budget > 0) {
      reply += static_cast<uint64_t>(probe.reasoning_budget);
    }
    // 10% over the prompt for items not probed that tokenize longer than their bytes suggest.
    const uint64_t tokens = chat.tokenize_prompt(prompt->text).size();
    const uint64_t n = tokens + tokens / 10 + c.turns * reply + probe.reserve;
    need = std::max(need, n);
  }
  return static_cast<uint32_t>(std::min<uint64_t>(need, UINT32_MAX));
}

}  // namespace clinbench
