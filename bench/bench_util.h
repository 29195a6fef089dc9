// What the benchmark programs share: medians, comma lists, and a llama-server to measure against.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

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
