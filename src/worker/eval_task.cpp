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
             llama_model* m, llama_context* ctx, const AttemptSpec&) -> Result<void> {
    const auto& all = *shared;
    auto backend = make_llama_backend(m, ctx);
    // Items go through in groups of `parallel`, their generation turns decoded together; each
    // group's records are emitted as soon as the group is finished.
    const size_t group = static_cast<size_t>(std::max(1, s.decoding.parallel));
    for (size_t first = 0; first < all.size(); first += group) {
      const size_t last = std::min(all.size(), first + group);
      const std::vector<DatasetItem> pending(all.begin() + static_cast<std::ptrdiff_t>(first),
                                             all.begin() + static_cast<std::ptrdiff_t>(last));
      for (const auto& r : evaluate_items(*backend, pending, s, model)) {
        if (auto sent = emit(r); !sent) return sent;
      }
    }
    return {};
  };
}

}  // namespace clinbench
