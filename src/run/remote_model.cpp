#include "run/remote_model.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>

#include "backend/openai_backend.h"
#include "clinbench/provenance.h"
#include "util/clock.h"

namespace clinbench {

Result<AttemptLog> run_remote_model(
    const ModelConfig& mc, const std::vector<DatasetItem>& items, const EvalSettings& settings,
    const std::vector<std::string>& notes,
    const std::function<Result<void>(const ItemRecord&)>& on_record) {
  const auto t0 = std::chrono::steady_clock::now();
  AttemptLog log;
  log.model_path = mc.base_url;
  log.requested = kRemoteStrategyName;
  log.started_at = utc_timestamp();
  Attempt a;
  a.isolation = Isolation::kNone;
  a.remote = {{"base_url", mc.base_url},
              {"api_model", mc.api_model},
              {"server_models", nlohmann::json::array()},
              {"notes", notes}};
  auto finish = [&](Outcome outcome, std::string reason) {
    a.outcome = outcome;
    a.reason = std::move(reason);
    a.wall_ms = ms_since(t0);
    log.attempts.push_back(a);
    if (outcome == Outcome::kOk) log.succeeded = 0;
    log.wall_ms = a.wall_ms;
    return log;
  };

  OpenAIOptions o;
  o.base_url = mc.base_url;
  o.api_model = mc.api_model;
  o.in_flight = mc.in_flight;
  o.timeout_s = mc.timeout_s;
  o.retries = mc.retries;
  o.retry_backoff_s = mc.retry_backoff_s;
  o.ca_cert = mc.ca_cert;
  if (!mc.api_key_env.empty()) {
    const char* key = std::getenv(mc.api_key_env.c_str());
    if (key == nullptr || key[0] == '\0') {
      return finish(
          Outcome::kFailed,
          fmt::format("environment variable {} (api_key_env) is not set or empty", mc.api_key_env));
    }
    o.api_key = key;
  }
  const auto tl = std::chrono::steady_clock::now();
  auto models = list_remote_models(o);
  a.init_ms = ms_since(tl);
  if (!models) return finish(Outcome::kFailed, models.error().message);
  a.remote["server_models"] = *models;
  if (o.api_model.empty()) {
    o.api_model = models->front();
    a.remote["api_model"] = o.api_model;
  }
  auto backend = make_openai_backend(o);
  if (!backend) return finish(Outcome::kFailed, backend.error().message);

  // `in_flight` items at once, each one turn after another through the protocol engine; a
  // record is emitted as soon as its item is done. A record that cannot be taken stops them all.
  std::mutex emit_mu;
  std::optional<Error> sink_error;
  std::atomic<bool> stop{false};
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < items.size() && !stop; i = next++) {
      const auto& [dataset, item] = items[i];
      ItemRecord r = evaluate_item(**backend, item, settings, mc.name, dataset);
      std::lock_guard<std::mutex> lock(emit_mu);
      if (stop) return;
      if (auto taken = on_record(r); !taken) {
        sink_error = taken.error();
        stop = true;
      }
    }
  };
  const size_t n = std::min<size_t>(static_cast<size_t>(std::max(1, mc.in_flight)), items.size());
  std::vector<std::thread> threads;
  for (size_t t = 1; t < n; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (sink_error) return std::unexpected(*sink_error);
  return finish(Outcome::kOk, "");
}

}  // namespace clinbench
