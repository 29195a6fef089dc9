#include "worker/eval_task.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "backend/llama_backend.h"

namespace clinbench {

AfterLoad make_eval_task(std::vector<DatasetItem> items, std::string model, EvalSettings settings,
                         RecordSink emit) {
  auto shared = std::make_shared<std::vector<DatasetItem>>(std::move(items));
  return [shared, model = std::move(model), s = std::move(settings), emit = std::move(emit)](
             llama_model* m, llama_context* ctx, const AttemptSpec& spec) -> Result<void> {
    auto backend = make_llama_backend(m, ctx);
    // As many conversations in flight as the plan gave the context sequences.
    return evaluate_stream(*backend, *shared, s, model, static_cast<int>(spec.n_seq), emit);
  };
}

}  // namespace clinbench
