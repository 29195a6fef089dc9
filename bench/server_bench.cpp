// Scale-out benchmark (issue 5): items per second of `clinbench run` through llama-server (the
// openai backend) with 1, 2, 4 and 8 requests in flight, against the in-process run (llama.cpp
// in a worker, items decoded as parallel sequences, `[decoding] parallel` = 4) on the same
// machine, model, items, prompts and token budget. Both go through run_evaluation end to end
// (dataset, protocol, store, exports), so the ratio is what a user sees.
//
// Client overhead: where the server is the bottleneck (it has every core), the CPU time this
// process spends per request (HTTP, SSE parsing, protocol, store) is the client's overhead;
// it is reported per request and as a share of the wall time per request.
//
// Each repetition runs the in-process peer and every in-flight level back to back, so all see
// the same machine load; medians over --reps are reported. llama-server is started afresh for
// each measurement (its prompt cache would otherwise hold the items' prompts from the previous
// one) with 8 slots (-np 8) and --threads, on 127.0.0.1, and stopped after it.
//
//   server_bench [--model GGUF] [--dataset FILE] [--items N] [--reps N] [--max-tokens N]
//                [--threads N] [--in-flight 1,2,4,8] [--ctx-per-slot N] [--work-dir DIR]
//                [--out FILE]
//
// Defaults: --model ../shared/models/stories260K.gguf (a quick check that the program works;
// the numbers worth reporting need a real model, e.g. a 1-8B Q4_K_M GGUF), --dataset
// ../shared/data/medqa/test.jsonl, --items 32, --reps 3, --max-tokens 64, --threads all cores,
// --ctx-per-slot 1024, --out bench/results/server_bench.json.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "clinbench/atomic_file.h"
#include "clinbench/config.h"
#include "clinbench/provenance.h"
#include "clinbench/run.h"
#include "clinbench/store.h"
#include "clinbench/worker.h"
#include "util/background_process.h"

using namespace clinbench;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string model = std::string(CLINBENCH_SOURCE_DIR) + "/../shared/models/stories260K.gguf";
  std::string dataset = std::string(CLINBENCH_SOURCE_DIR) + "/../shared/data/medqa/test.jsonl";
  size_t items = 32;
  int reps = 3;
  int max_tokens = 64;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<int> in_flight = {1, 2, 4, 8};
  int ctx_per_slot = 1024;
  std::string work_dir = "/tmp/clinbench-server-bench";
  std::string out = std::string(CLINBENCH_SOURCE_DIR) + "/bench/results/server_bench.json";
};

}  // namespace

int main(int argc, char** argv) {
  // The in-process run's loading attempts re-execute this program as their worker.
  if (auto rc = run_child_command(argc, argv)) return *rc;
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + ": needs a value");
      return argv[++i];
    };
    if (a == "--model")
      o.model = next();
    else if (a == "--dataset")
      o.dataset = next();
    else if (a == "--items")
      o.items = std::stoul(next());
    else if (a == "--reps")
      o.reps = std::stoi(next());
    else if (a == "--max-tokens")
      o.max_tokens = std::stoi(next());
    else if (a == "--threads")
      o.threads = std::stoi(next());
    else if (a == "--in-flight")
      o.in_flight = bench::parse_ints(next());
    else if (a == "--ctx-per-slot")
      o.ctx_per_slot = std::stoi(next());
    else if (a == "--work-dir")
      o.work_dir = next();
    else if (a == "--out")
      o.out = next();
    else {
      std::cerr << "server_bench: unknown option " << a << " (see the header of "
                << "bench/server_bench.cpp)\n";
      return 2;
    }
  }
  fs::create_directories(o.work_dir);
  const int slots = std::max(8, *std::max_element(o.in_flight.begin(), o.in_flight.end()));

  // A fresh llama-server for each measurement: its prompt cache keeps the prompts of earlier
  // requests, so a server that had already seen these items would skip their prefill (an
  // earlier version of this benchmark reused one server and measured that).
  auto start_server = [&](int level) {
    return bench::start_llama_server(o.model, slots, o.ctx_per_slot * slots, o.threads,
                                     fmt::format("{}/llama-server-{}.log", o.work_dir, level));
  };

  RunConfig base;
  DatasetConfig d;
  d.name = "bench";
  d.path = o.dataset;
  d.limit = o.items;
  base.datasets.push_back(d);
  base.decoding.max_tokens = o.max_tokens;
  RunConfig local = base;
  ModelConfig lm;
  lm.name = "model";
  lm.path = o.model;
  lm.ctx = static_cast<uint32_t>(o.ctx_per_slot);
  lm.threads = o.threads;
  local.models.push_back(lm);
  local.out = o.work_dir + "/in-process";

  std::vector<double> local_ips;
  std::vector<std::vector<double>> remote_ips(o.in_flight.size()), remote_cpu(o.in_flight.size());
  std::vector<bench::Measure> last(o.in_flight.size());
  bench::Measure last_local;
  try {
    for (int rep = 0; rep < o.reps; ++rep) {
      last_local = bench::run_once(local);
      // Items that failed (a prompt over the slot's context, say) finish at once: only
      // completed items count, and a run with failures is flagged below.
      local_ips.push_back(static_cast<double>(last_local.items - last_local.errors) /
                          last_local.wall_s);
      std::cerr << fmt::format("rep {}: in-process {:.2f} items/s\n", rep, local_ips.back());
      for (size_t k = 0; k < o.in_flight.size(); ++k) {
        RunConfig remote = base;
        ModelConfig rm;
        rm.name = "model";
        rm.backend = "openai";
        rm.strategy = "remote";
        auto [server, origin] = start_server(o.in_flight[k]);
        rm.base_url = origin + "/v1";
        rm.in_flight = o.in_flight[k];
        remote.models.push_back(rm);
        remote.out = fmt::format("{}/remote-{}", o.work_dir, o.in_flight[k]);
        bench::Measure m = bench::run_once(remote);
        server.stop();
        last[k] = m;
        remote_ips[k].push_back(static_cast<double>(m.items - m.errors) / m.wall_s);
        remote_cpu[k].push_back(m.requests > 0 ? 1000.0 * m.cpu_s / static_cast<double>(m.requests)
                                               : 0);
        std::cerr << fmt::format(
            "rep {}: {} in flight {:.2f} items/s, client {:.2f} ms CPU per "
            "request\n",
            rep, o.in_flight[k], remote_ips[k].back(), remote_cpu[k].back());
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "server_bench: " << e.what() << "\n";
    return 1;
  }
  bool comparable = last_local.errors == 0;
  for (const auto& m : last) comparable = comparable && m.errors == 0;
  if (!comparable) {
    std::cerr << "server_bench: some items failed (item_errors in the JSON; see the run "
                 "directories under "
              << o.work_dir << "): items/s counts completed items only, and the ratios compare "
              << "different work\n";
  }

  const double local_med = bench::median(local_ips);
  json remote = json::array();
  std::cout << fmt::format("{:<22} {:>10} {:>12} {:>18} {:>14}\n", "", "items/s", "vs in-proc",
                           "client CPU/request", "share of wall");
  std::cout << fmt::format("{:<22} {:>10.2f} {:>12} {:>18} {:>14}\n", "in-process (parallel 4)",
                           local_med, "1.00x", "", "");
  for (size_t k = 0; k < o.in_flight.size(); ++k) {
    const double ips = bench::median(remote_ips[k]);
    const double cpu_ms = bench::median(remote_cpu[k]);
    // Wall time per request with k in flight: k requests overlap.
    const double wall_ms_per_request =
        last[k].requests > 0
            ? 1000.0 * last[k].wall_s * o.in_flight[k] / static_cast<double>(last[k].requests)
            : 0;
    const double share = wall_ms_per_request > 0 ? cpu_ms / wall_ms_per_request : 0;
    std::cout << fmt::format("{:<22} {:>10.2f} {:>11.2f}x {:>15.2f} ms {:>13.1f}%\n",
                             fmt::format("server, {} in flight", o.in_flight[k]), ips,
                             local_med > 0 ? ips / local_med : 0, cpu_ms, 100 * share);
    remote.push_back({{"in_flight", o.in_flight[k]},
                      {"items_per_s", ips},
                      {"items_per_s_reps", remote_ips[k]},
                      {"ratio_vs_in_process", local_med > 0 ? ips / local_med : 0},
                      {"client_cpu_ms_per_request", cpu_ms},
                      {"wall_ms_per_request", wall_ms_per_request},
                      {"client_share_of_request", share},
                      {"requests", last[k].requests},
                      {"item_errors", last[k].errors}});
  }
  json out = {{"benchmark", "server_bench"},
              {"created_at", utc_timestamp()},
              {"options",
               {{"model", o.model},
                {"dataset", o.dataset},
                {"items", o.items},
                {"reps", o.reps},
                {"max_tokens", o.max_tokens},
                {"threads", o.threads},
                {"server_slots", slots},
                {"ctx_per_slot", o.ctx_per_slot}}},
              {"in_process",
               {{"items_per_s", local_med},
                {"items_per_s_reps", local_ips},
                {"parallel", local.decoding.parallel},
                {"item_errors", last_local.errors}}},
              {"server", remote},
              {"comparable", comparable},
              {"build", build_info()},
              {"host", host_info()}};
  fs::create_directories(fs::path(o.out).parent_path());
  if (auto w = write_file_atomically(o.out, out.dump(2) + "\n"); !w) {
    std::cerr << "server_bench: " << w.error().message << "\n";
    return 1;
  }
  std::cerr << "wrote " << o.out << "\n";
  return 0;
}
