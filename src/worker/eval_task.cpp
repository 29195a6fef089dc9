#include "worker/eval_task.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "backend/llama_backend.h"
#include "clinbench/energy.h"

namespace clinbench {

namespace {

// What the meters measured over the evaluation, for the attempt log: measured_json plus the
// joules the items were given ("attributed_j"; the rest went to no item: gaps between batches).
nlohmann::json energy_summary(const energy::Meters& meters, const energy::Sampler* sampler,
                              double attributed_j, bool attributed_known) {
  nlohmann::json j = energy::measured_json(meters, sampler);
  j["attributed_j"] = attributed_known ? nlohmann::json(attributed_j) : nlohmann::json(nullptr);
  return j;
}

}  // namespace

AfterLoad make_eval_task(std::vector<DatasetItem> items, std::string model, EvalSettings settings,
                         RecordSink emit, const std::shared_ptr<nlohmann::json>& energy_out) {
  auto shared = std::make_shared<std::vector<DatasetItem>>(std::move(items));
  return [shared, model = std::move(model), s = std::move(settings), emit = std::move(emit),
          energy_out](llama_model* m, llama_context* ctx, const AttemptSpec& spec) -> Result<void> {
    // The meters this machine has, sampled while the items run; none: every energy_j is null.
    energy::Meters meters = energy::Meters::detect();
    std::optional<energy::Sampler> sampler;
    if (!meters.empty()) {
      sampler.emplace(meters);
      sampler->start();
    }
    auto backend = make_llama_backend(m, ctx, sampler ? &*sampler : nullptr);
    double attributed = 0;
    bool attributed_known = true;
    const RecordSink counted = [&](const ItemRecord& r) {
      if (r.energy_j) {
        attributed += *r.energy_j;
      } else {
        attributed_known = false;
      }
      return emit(r);
    };
    // As many conversations in flight as the plan gave the context sequences.
    auto done = evaluate_stream(*backend, *shared, s, model, static_cast<int>(spec.n_seq), counted);
    backend.reset();
    if (sampler) sampler->stop();
    if (energy_out) {
      *energy_out = energy_summary(meters, sampler ? &*sampler : nullptr, attributed,
                                   attributed_known && sampler.has_value());
    }
    return done;
  };
}

}  // namespace clinbench
