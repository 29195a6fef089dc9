// What the benchmark programs share: medians, comma lists, and a llama-server to measure against.
#pragma once

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "clinbench/run.h"
#include "clinbench/store.h"
#include "util/background_process.h"

namespace clinbench::bench {

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

inline std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string part; std::getline(ss, part, ',');) out.push_back(part);
  return out;
}

inline std::vector<int> parse_ints(const std::string& s) {
  std::vector<int> out;
  for (const auto& part : split_commas(s)) out.push_back(std::stoi(part));
  return out;
}

// This process's user + system CPU time, in seconds.
inline double self_cpu_s() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

// One whole `clinbench run` and what its store holds afterwards.
struct Measure {
  double wall_s = 0;
  double cpu_s = 0;  // this process
  int64_t items = 0;
  int64_t errors = 0;
  int64_t requests = 0;       // generation turns
  int64_t output_tokens = 0;  // over all items
  double prompt_tokens = 0;   // mean over items
  double decode_ms = 0;       // sum of the items' decode_ms (overlapping when N > 1)
  double batch_width = 0;     // mean of the items' extra.batch_width (in-process only)
  // The loaded attempt's KV layout record (attempt log "kv"); null for served models.
  nlohmann::json kv;
  double items_per_s() const {
    return wall_s > 0 ? static_cast<double>(items - errors) / wall_s : 0;
  }
  double tokens_per_s() const {
    return wall_s > 0 ? static_cast<double>(output_tokens) / wall_s : 0;
  }
  // One sequence's decode rate: the tokens that took a decode step (each turn's first token
  // comes from its prefill) over the items' decode time; llama-bench's tg at N = 1.
  double decode_steps_per_s() const {
    return decode_ms > 0 ? static_cast<double>(output_tokens - requests) / (decode_ms / 1000) : 0;
  }
};

// run_evaluation of cfg into a fresh cfg.out. Throws when the run or its model failed.
inline Measure run_once(RunConfig cfg) {
  std::error_code ec;
  std::filesystem::remove_all(cfg.out, ec);
  const double c0 = self_cpu_s();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_evaluation(cfg, {});
  Measure m;
  m.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  m.cpu_s = self_cpu_s() - c0;
  if (!r) throw std::runtime_error(r.error().message);
  if (r->models_failed > 0) {
    throw std::runtime_error(cfg.out + ": the model failed; see results.json");
  }
  auto store = RunStore::open(cfg.out);
  if (!store) throw std::runtime_error(store.error().message);
  auto items = store->items();
  if (!items) throw std::runtime_error(items.error().message);
  for (const auto& it : *items) {
    ++m.items;
    m.errors += !it.error.empty();
    m.requests += static_cast<int64_t>(it.output_tokens.size());
    for (auto t : it.output_tokens) m.output_tokens += t;
    m.prompt_tokens += static_cast<double>(it.prompt_tokens);
    m.decode_ms += it.decode_ms;
    if (it.extra.contains("batch_width")) m.batch_width += it.extra["batch_width"].get<double>();
  }
  if (auto model = store->model(cfg.models.front().name); model && model->has_value()) {
    const auto log = nlohmann::json::parse((*model)->attempt_log, nullptr, false);
    if (log.is_object() && log.value("succeeded", nlohmann::json()).is_number()) {
      m.kv = log["attempts"][log["succeeded"].get<size_t>()].value("kv", nlohmann::json());
    }
  }
  if (m.items > 0) {
    m.prompt_tokens /= static_cast<double>(m.items);
    m.batch_width /= static_cast<double>(m.items);
  }
  return m;
}

// A fresh llama-server on 127.0.0.1 with `slots` slots sharing `ctx` cells, ready to serve; its
// output goes to `log`. Throws on failure. Returns the process and its origin (http://host:port).
inline std::pair<BackgroundProcess, std::string> start_llama_server(const std::string& model,
                                                                    int slots, int ctx, int threads,
                                                                    const std::string& log) {
  auto port = free_local_port();
  if (!port) throw std::runtime_error(port.error().message);
  const std::string origin = fmt::format("http://127.0.0.1:{}", *port);
  auto server = BackgroundProcess::start(
      {std::string(CLINBENCH_LLAMA_BIN) + "/llama-server", "-m", model, "--host", "127.0.0.1",
       "--port", std::to_string(*port), "-np", std::to_string(slots), "-c", std::to_string(ctx),
       "-t", std::to_string(threads), "--no-webui"},
      log);
  if (!server) throw std::runtime_error(server.error().message);
  if (auto ready = wait_until_ready(origin, "/health", *server, 300); !ready) {
    throw std::runtime_error(ready.error().message);
  }
  return {std::move(*server), origin};
}

}  // namespace clinbench::bench
