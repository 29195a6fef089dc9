// Generation at scale (issue 12): items per second and aggregate generated tokens per second of
// `clinbench run` (run_evaluation end to end: worker process, load, warm-up, protocol, store,
// exports) at N conversations in flight (`[decoding] parallel` = N, continuous batching), against
// two peers measured in the same repetition:
//  - llama-batched-bench at -npl N (the batching ceiling: N sequences of the items' mean prompt
//    length and the same generated tokens, per-sequence KV as clinbench creates it, same file
//    and threads; model load excluded, so it is the ceiling, not a whole-process peer);
//  - llama-server with N slots driven by clinbench's openai backend with N requests in flight
//    (what users run instead), whole run included, server start excluded;
//  - at N = 1, llama-bench tg of the items' mean reply at the items' mean prompt depth (-d):
//    one sequence's decode rate, against clinbench's per-item decode rate (the tokens that took
//    a decode step over the items' decode_ms).
// Before the runs it measures the CPU's memory bandwidth at --threads (clinbench/bandwidth.h,
// as `clinbench inspect --bandwidth`) and states each decode rate (llama-batched-bench's S_TG at
// N; clinbench's and llama-bench's at N = 1) against the ceiling that sets at N sequences the
// items' mean depth deep (JSON: "bandwidth", each level's "bandwidth_ceiling_tokens_per_s").
// Workloads:
//  - "fixed": a synthetic llama-300m in q4_0, which never ends a reply: every item writes
//    max_tokens;
//  - "variable": the same model and items, each with a reply budget of its own (the dataset's
//    per-item "max_tokens", docs/datasets.md) drawn from a log-normal whose mean is --max-tokens:
//    the seed's CURE-Bench replies averaged 650-770 tokens per model, scaled down here to what
//    2 cores finish in minutes. The seed reports means only, so the spread (sigma 0.5, a
//    coefficient of variation of about 0.53) is assumed; budgets are clamped to [8, 3 x mean],
//    the run's max_tokens is that cap, and the draw is seeded (--budget-seed). The model never
//    ends a reply, so each item writes exactly its budget;
//  - "loglik": the synthetic model and items scored by log-likelihood (`scoring = "loglik"`), N
//    items in the same decodes (their prompts in one batch, then their options round by round);
//    no generation, so its peer is clinbench's own N = 1 (one item at a time) in the same
//    repetition, which bench/eval_bench measures against llama-perplexity --multiple-choice;
//  - "stories": stories260K, which was meant to end its stories at different points but wrote
//    the whole budget on these items (docs/benchmarks.md).
// llama-batched-bench runs N sequences of the mean prompt and the mean reply: for "variable"
// it is the equal-length ceiling, which no scheduler of unequal replies reaches.
// The KV layout cache (docs/attempt-log.md): by default each in-process run gets an empty one, so
// that `kv = "auto"` measures both layouts inside the run's time, as a first run of a shape on a
// machine does. --kv-cache DIR keeps the measurements in DIR instead: a second invocation with
// the same DIR times the runs as later runs of the same shapes go, the layout taken from the
// cache. Each level's `kv` in the JSON says which (`cached`).
//
//   gen_bench [--workloads fixed,variable,stories,loglik] [--levels 1,4,8,16,32] [--items N]
//             [--max-tokens N] [--budget-seed N] [--reps N] [--threads N] [--dataset FILE]
//             [--work-dir DIR] [--out FILE] [--no-server] [--kv-cache DIR]
//
// Defaults: --workloads fixed,variable --items 32 --max-tokens 64 --budget-seed 1 --reps 1
// --levels 1,4,8,16,32, MMLU-medical test items (../shared), --out bench/results/gen_bench.json.
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "clinbench/atomic_file.h"
#include "clinbench/bandwidth.h"
#include "clinbench/config.h"
#include "clinbench/dataset.h"
#include "clinbench/provenance.h"
#include "clinbench/run.h"
#include "clinbench/store.h"
#include "clinbench/synth.h"
#include "clinbench/units.h"
#include "clinbench/worker.h"

using namespace clinbench;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::vector<std::string> workloads = {"fixed", "variable"};
  std::vector<int> levels = {1, 4, 8, 16, 32};
  size_t items = 32;
  int max_tokens = 64;
  uint64_t budget_seed = 1;
  int reps = 1;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string dataset = std::string(CLINBENCH_SOURCE_DIR) + "/../shared/data/mmlu-medical/test";
  std::string stories = std::string(CLINBENCH_SOURCE_DIR) + "/../shared/models/stories260K.gguf";
  std::string work_dir = "/tmp/clinbench-gen-bench";
  std::string out = std::string(CLINBENCH_SOURCE_DIR) + "/bench/results/gen_bench.json";
  bool server = true;
  std::string kv_cache;  // "": an empty KV layout cache per run
};

// One whole run: items done, generated tokens, mean prompt tokens, mean batch width.

// llama-batched-bench at one level: the time it reports for N sequences of pp + tg tokens.
struct PeerRun {
  double total_s = 0;   // its T s column: prompt and generation of all N sequences
  double tg_tok_s = 0;  // its S_TG t/s column
  bool ok = false;
  std::string error;
};

PeerRun run_batched_bench(const std::string& model, int npp, int ntg, int npl, int threads,
                          const std::string& log) {
  PeerRun p;
  const std::string cmd = fmt::format(
      "'{}/llama-batched-bench' -m '{}' -c {} -b 2048 -ub 512 -npp {} -ntg {} -npl {} -t {} "
      ">'{}' 2>&1",
      CLINBENCH_LLAMA_BIN, model, npl * (npp + ntg) + 16, npp, ntg, npl, threads, log);
  const int rc = std::system(cmd.c_str());
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  if (rc != 0) {
    p.error = fmt::format("llama-batched-bench exited with {} (see {})", rc, log);
    return p;
  }
  // |    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s |      T s |    S
  // t/s |
  const std::regex row(
      R"(\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|)");
  for (std::sregex_iterator it(text.begin(), text.end(), row), end; it != end; ++it) {
    if (std::stoi((*it)[3]) != npl) continue;
    p.tg_tok_s = std::stod((*it)[8]);
    p.total_s = std::stod((*it)[9]);
    p.ok = true;
  }
  if (!p.ok) {
    p.error = "no result row in " + log +
              " (llama-batched-bench skips sequences longer than its context per sequence, "
              "which it caps at the model's training context)";
  }
  return p;
}

// llama-bench's tg of n_gen tokens after `depth` tokens in the KV: one sequence's decode rate
// (avg_ts, after its own warm-up run), the peer of clinbench's per-item decode rate at N = 1.
struct TgRun {
  double tok_s = 0;
  bool ok = false;
  std::string error;
};

TgRun run_llama_bench_tg(const std::string& model, int n_gen, int depth, int threads,
                         const std::string& log) {
  TgRun t;
  const std::string cmd =
      fmt::format("'{}/llama-bench' -m '{}' -p 0 -n {} -d {} -t {} -o json >'{}' 2>'{}.err'",
                  CLINBENCH_LLAMA_BIN, model, n_gen, depth, threads, log, log);
  const int rc = std::system(cmd.c_str());
  std::ifstream in(log);
  const json j = json::parse(in, nullptr, false);
  if (rc != 0 || !j.is_array() || j.empty() || !j[0].contains("avg_ts")) {
    t.error = fmt::format("llama-bench exited with {} or wrote no result (see {} and {}.err)", rc,
                          log, log);
    return t;
  }
  t.tok_s = j[0]["avg_ts"].get<double>();
  t.ok = true;
  return t;
}

std::string synthetic_model(const Options& o) {
  const std::string path = o.work_dir + "/llama-300m-q4_0.gguf";
  if (fs::exists(path)) return path;
  SynthOptions so;
  for (const auto& p : synth_presets()) {
    if (p.name == "llama-300m") so.shape = p.shape;
  }
  so.type = "q4_0";
  std::cerr << "writing " << path << " ...\n";
  if (auto r = write_synthetic_model(so, path); !r) throw std::runtime_error(r.error().message);
  return path;
}

// The "variable" workload's items: the first `items` of the dataset as CURE-Bench JSONL, each
// with a reply budget drawn from a log-normal of the given mean (sigma 0.5), clamped to
// [8, 3 x mean]. Returns the file, the cap and the budgets.
struct BudgetedItems {
  std::string path;
  int cap = 0;
  std::vector<int> budgets;
};

BudgetedItems budgeted_items(const Options& o) {
  auto ds = read_dataset(o.dataset);
  if (!ds) throw std::runtime_error(ds.error().message);
  constexpr double kSigma = 0.5;
  std::mt19937_64 rng(o.budget_seed);
  // The log-normal's mean is exp(mu + sigma^2 / 2).
  std::lognormal_distribution<double> draw(std::log(o.max_tokens) - kSigma * kSigma / 2, kSigma);
  BudgetedItems out;
  out.cap = 3 * o.max_tokens;
  out.path = fmt::format("{}/variable-items-{}-{}-{}.jsonl", o.work_dir, o.items, o.max_tokens,
                         o.budget_seed);
  std::string text;
  for (size_t i = 0; i < o.items && i < ds->items.size(); ++i) {
    const Item& it = ds->items[i];
    const int budget = std::clamp(static_cast<int>(std::lround(draw(rng))), 8, out.cap);
    out.budgets.push_back(budget);
    json row = {{"id", it.id},
                {"question_type", "multi_choice"},
                {"question", it.question},
                {"options", it.options},
                {"max_tokens", budget}};
    if (it.answer) row["correct_answer"] = *it.answer;
    text += row.dump() + "\n";
  }
  if (auto w = write_file_atomically(out.path, text); !w)
    throw std::runtime_error(w.error().message);
  return out;
}

struct LevelResult {
  int n = 0;
  std::vector<double> ours_ips, ours_tps, peer_ips, peer_tps, server_ips, server_tps;
  // N = 1 only: clinbench's per-item decode rate and llama-bench's tg at the items' depth.
  std::vector<double> ours_decode_tps, tg_tps;
  // llama-batched-bench's aggregate decode rate (S_TG) and the ceiling the machine's bandwidth
  // sets at N sequences the items' mean depth deep (clinbench/bandwidth.h).
  std::vector<double> peer_decode_tps;
  double ceiling_tps = 0;
  bench::Measure last;
  int64_t server_errors = 0;  // items the server run failed (its items/s counts completed ones)
  // The server's items/s counting its failed items as done (they were generated, then its reply
  // parser failed them), the fairer peer where it fails some.
  std::vector<double> server_all_ips;
};

json decode_row(const std::vector<double>& v) {
  return v.empty() ? json() : json(bench::median(v));
}

// What a decode step of `model` reads: its weights, and the KV bytes per cell as llama.cpp
// allocates them (the plan's).
struct StepBytes {
  uint64_t weights = 0;
  uint64_t kv_per_cell = 0;
};

StepBytes step_bytes(const std::string& model) {
  auto info = read_model_info(model, {.hash = false});
  if (!info) throw std::runtime_error(info.error().message);
  PlanOptions po;
  po.n_ctx = 512;
  auto plan = plan_model(*info, po);
  if (!plan) throw std::runtime_error(plan.error().message);
  return {decode_weight_bytes(*info), kv_bytes_per_cell(*plan)};
}

// A rate and its fraction of the bandwidth ceiling, "-" without either.
std::string of_ceiling(double tps, double ceiling) {
  return tps > 0 && ceiling > 0 ? fmt::format("{:.1f} ({:.0f}%)", tps, 100 * tps / ceiling) : "-";
}

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
    if (a == "--workloads")
      o.workloads = bench::split_commas(next());
    else if (a == "--levels")
      o.levels = bench::parse_ints(next());
    else if (a == "--items")
      o.items = std::stoul(next());
    else if (a == "--max-tokens")
      o.max_tokens = std::stoi(next());
    else if (a == "--budget-seed")
      o.budget_seed = std::stoull(next());
    else if (a == "--reps")
      o.reps = std::stoi(next());
    else if (a == "--threads")
      o.threads = std::stoi(next());
    else if (a == "--dataset")
      o.dataset = next();
    else if (a == "--work-dir")
      o.work_dir = next();
    else if (a == "--out")
      o.out = next();
    else if (a == "--no-server")
      o.server = false;
    else if (a == "--kv-cache")
      o.kv_cache = next();
    else {
      std::cerr << "gen_bench: unknown option " << a << " (see bench/gen_bench.cpp's header)\n";
      return 2;
    }
  }
  fs::create_directories(o.work_dir);
  json workloads = json::array();
  Bandwidth bandwidth;
  try {
    // The machine's memory bandwidth at the runs' threads: the ceiling of every decode rate.
    auto bw = measure_bandwidth({.threads = o.threads});
    if (!bw) throw std::runtime_error(bw.error().message);
    bandwidth = *bw;
    std::cerr << fmt::format("memory bandwidth, {} threads: {:.1f} GB/s (median {:.1f})\n",
                             o.threads, bandwidth.best() / 1e9, bandwidth.median() / 1e9);
    for (const std::string& w : o.workloads) {
      if (w != "fixed" && w != "variable" && w != "stories" && w != "loglik") {
        throw std::runtime_error("unknown workload " + w);
      }
      const std::string model = w == "stories" ? o.stories : synthetic_model(o);
      const StepBytes step = step_bytes(model);
      RunConfig base;
      DatasetConfig d;
      d.name = "bench";
      d.path = o.dataset;
      d.limit = o.items;
      base.decoding.max_tokens = o.max_tokens;
      const bool loglik = w == "loglik";
      if (loglik) base.decoding.scoring = Scoring::kLoglik;
      json budgets;
      if (w == "variable") {
        const BudgetedItems b = budgeted_items(o);
        d.path = b.path;
        d.format = "curebench";
        base.decoding.max_tokens = b.cap;
        budgets = {{"cap", b.cap}, {"budgets", b.budgets}};
      }
      base.datasets.push_back(d);
      // Per-sequence cells: the longest prompt (a few hundred tokens) and the reply.
      const auto ctx = static_cast<uint32_t>(1024 + base.decoding.max_tokens);
      std::vector<LevelResult> levels;
      for (int n : o.levels) levels.push_back({n});
      for (int rep = 0; rep < o.reps; ++rep) {
        for (auto& L : levels) {
          RunConfig local = base;
          local.decoding.parallel = L.n;
          if (loglik) {
            // N items in the same decodes, per-sequence KV (no probe: the runs differ in the
            // grouping alone).
            local.decoding.loglik_batch = L.n;
            local.decoding.kv = KvLayout::kSplit;
          }
          ModelConfig lm;
          lm.name = "model";
          lm.path = model;
          lm.ctx = ctx;
          lm.threads = o.threads;
          local.models.push_back(lm);
          local.out = fmt::format("{}/{}-in-process-{}", o.work_dir, w, L.n);
          const std::string cache =
              o.kv_cache.empty() ? o.work_dir + "/kv-cache-empty" : o.kv_cache;
          if (o.kv_cache.empty()) fs::remove_all(cache);
          setenv("CLINBENCH_CACHE_DIR", cache.c_str(), 1);  // the worker inherits it
          L.last = bench::run_once(local);
          L.ours_ips.push_back(L.last.items_per_s());
          L.ours_tps.push_back(L.last.tokens_per_s());
          if (loglik) {
            std::cerr << fmt::format("{} rep {} N={}: clinbench {:.2f} items/s, KV {}\n", w, rep,
                                     L.n, L.ours_ips.back(),
                                     L.last.kv.is_object() ? L.last.kv.dump() : "-");
            continue;
          }
          // The peer: N sequences of the items' mean prompt and mean reply length.
          const int npp = static_cast<int>(L.last.prompt_tokens + 0.5);
          const int ntg =
              static_cast<int>(static_cast<double>(L.last.output_tokens) /
                                   static_cast<double>(std::max<int64_t>(1, L.last.items)) +
                               0.5);
          PeerRun p =
              run_batched_bench(model, npp, std::max(1, ntg), L.n, o.threads,
                                fmt::format("{}/{}-batched-bench-{}.log", o.work_dir, w, L.n));
          if (!p.ok) throw std::runtime_error(p.error);
          L.peer_ips.push_back(L.n / p.total_s);
          L.peer_tps.push_back(L.n * std::max(1, ntg) / p.total_s);
          L.peer_decode_tps.push_back(p.tg_tok_s);
          L.ceiling_tps = roofline_tokens_per_s(bandwidth.best(), step.weights, step.kv_per_cell,
                                                L.n, npp + ntg / 2);
          if (L.n == 1) {
            const TgRun tg =
                run_llama_bench_tg(model, std::max(1, ntg), npp, o.threads,
                                   fmt::format("{}/{}-llama-bench-tg.json", o.work_dir, w));
            if (!tg.ok) throw std::runtime_error(tg.error);
            L.ours_decode_tps.push_back(L.last.decode_steps_per_s());
            L.tg_tps.push_back(tg.tok_s);
            std::cerr << fmt::format(
                "{} rep {} N=1 decode: clinbench {:.1f} tok/s per item, llama-bench tg{} at "
                "depth {} {:.1f} tok/s\n",
                w, rep, L.ours_decode_tps.back(), std::max(1, ntg), npp, tg.tok_s);
          }
          std::string server_text;
          if (o.server) {
            auto [server, origin] = bench::start_llama_server(
                model, L.n, static_cast<int>(ctx) * L.n, o.threads,
                fmt::format("{}/{}-llama-server-{}.log", o.work_dir, w, L.n));
            RunConfig remote = base;
            ModelConfig rm;
            rm.name = "model";
            rm.backend = "openai";
            rm.strategy = "remote";
            rm.base_url = origin + "/v1";
            rm.in_flight = L.n;
            remote.models.push_back(rm);
            remote.out = fmt::format("{}/{}-server-{}", o.work_dir, w, L.n);
            bench::Measure m = bench::run_once(remote);
            server.stop();
            L.server_errors = m.errors;
            L.server_ips.push_back(m.items_per_s());
            L.server_all_ips.push_back(m.wall_s > 0 ? static_cast<double>(m.items) / m.wall_s : 0);
            L.server_tps.push_back(m.tokens_per_s());
            server_text = fmt::format(", server {:.2f} items/s ({} failed; {:.2f} counting them)",
                                      m.items_per_s(), m.errors, L.server_all_ips.back());
          }
          std::cerr << fmt::format(
              "{} rep {} N={}: clinbench {:.2f} items/s ({:.0f} tok/s, width {:.1f}, KV {}), "
              "batched-bench {:.2f} items/s{}\n",
              w, rep, L.n, L.ours_ips.back(), L.ours_tps.back(), L.last.batch_width,
              L.last.kv.is_object() ? L.last.kv.dump() : "-", L.peer_ips.back(), server_text);
        }
      }
      json rows = json::array();
      std::cout << fmt::format("\n{} workload ({}), {} items, {} {}, {} threads\n", w,
                               fs::path(model).filename().string(), o.items,
                               w == "variable" ? "mean budget" : "max_tokens", o.max_tokens,
                               o.threads);
      if (o.server) {
        std::cout << "(ratio*: against llama-server counting the items its reply parser failed "
                     "as done)\n";
      }
      std::cout << fmt::format("{:>4} {:>10} {:>10} {:>12} {:>12} {:>9} {:>12} {:>9} {:>9}\n", "N",
                               "items/s", "tok/s", "width", "batched i/s", "ratio", "server i/s",
                               "ratio", "ratio*");
      const double first = bench::median(levels.front().ours_ips);
      for (const auto& L : levels) {
        const double ours = bench::median(L.ours_ips), peer = bench::median(L.peer_ips),
                     server = bench::median(L.server_ips);
        if (loglik) {
          std::cout << fmt::format("{:>4} {:>10.2f}   ({:.2f}x N = {})\n", L.n, ours,
                                   first > 0 ? ours / first : 0, levels.front().n);
          rows.push_back({{"n", L.n},
                          {"clinbench_items_per_s", ours},
                          {"clinbench_items_per_s_reps", L.ours_ips},
                          {"kv", L.last.kv},
                          {"mean_prompt_tokens", L.last.prompt_tokens},
                          {"item_errors", L.last.errors},
                          {"ratio_vs_first_level", first > 0 ? ours / first : 0}});
          continue;
        }
        std::cout << fmt::format(
            "{:>4} {:>10.2f} {:>10.1f} {:>12.1f} {:>12.2f} {:>8.2f}x {:>12} {:>9} {:>9}\n", L.n,
            ours, bench::median(L.ours_tps), L.last.batch_width, peer, peer > 0 ? ours / peer : 0,
            o.server ? fmt::format("{:.2f}", server) : "-",
            o.server && server > 0 ? fmt::format("{:.2f}x", ours / server) : "-",
            o.server && bench::median(L.server_all_ips) > 0
                ? fmt::format("{:.2f}x", ours / bench::median(L.server_all_ips))
                : "-");
        rows.push_back(
            {{"n", L.n},
             {"clinbench_items_per_s", ours},
             {"clinbench_tokens_per_s", bench::median(L.ours_tps)},
             {"clinbench_items_per_s_reps", L.ours_ips},
             {"mean_batch_width", L.last.batch_width},
             {"kv", L.last.kv},
             {"mean_prompt_tokens", L.last.prompt_tokens},
             {"item_errors", L.last.errors},
             {"batched_bench_items_per_s", peer},
             {"batched_bench_tokens_per_s", bench::median(L.peer_tps)},
             {"ratio_vs_batched_bench", peer > 0 ? ours / peer : 0},
             {"server_items_per_s", o.server ? json(server) : json()},
             {"server_item_errors", o.server ? json(L.server_errors) : json()},
             {"ratio_vs_server", o.server && server > 0 ? json(ours / server) : json()},
             {"server_items_per_s_failed_counted",
              o.server ? json(bench::median(L.server_all_ips)) : json()},
             {"ratio_vs_server_failed_counted", o.server && bench::median(L.server_all_ips) > 0
                                                    ? json(ours / bench::median(L.server_all_ips))
                                                    : json()},
             {"decode_tokens_per_s", decode_row(L.ours_decode_tps)},
             {"bandwidth_ceiling_tokens_per_s", L.ceiling_tps},
             {"batched_bench_decode_tokens_per_s", decode_row(L.peer_decode_tps)},
             {"llama_bench_tg_tokens_per_s", decode_row(L.tg_tps)},
             {"ratio_decode_vs_llama_bench",
              L.tg_tps.empty()
                  ? json()
                  : json(bench::median(L.ours_decode_tps) / bench::median(L.tg_tps))}});
      }
      if (!loglik) {
        std::cout << fmt::format(
            "Decode tok/s against the bandwidth ceiling ({:.1f} GB/s; a step reads {} of weights "
            "and {} of KV per cell, the items' mean depth):\n{:>4} {:>12} {:>22} {:>22} {:>22}\n",
            bandwidth.best() / 1e9, format_bytes(step.weights), format_bytes(step.kv_per_cell), "N",
            "ceiling", "batched-bench S_TG", "clinbench (N=1)", "llama-bench tg (N=1)");
        for (const auto& L : levels) {
          std::cout << fmt::format(
              "{:>4} {:>12.1f} {:>22} {:>22} {:>22}\n", L.n, L.ceiling_tps,
              of_ceiling(bench::median(L.peer_decode_tps), L.ceiling_tps),
              L.ours_decode_tps.empty()
                  ? "-"
                  : of_ceiling(bench::median(L.ours_decode_tps), L.ceiling_tps),
              L.tg_tps.empty() ? "-" : of_ceiling(bench::median(L.tg_tps), L.ceiling_tps));
        }
      }
      for (const auto& L : levels) {
        if (L.tg_tps.empty()) continue;
        std::cout << fmt::format(
            "N=1 decode: clinbench {:.1f} tok/s per item, llama-bench tg at the items' depth "
            "{:.1f} tok/s, {:.3f}x\n",
            bench::median(L.ours_decode_tps), bench::median(L.tg_tps),
            bench::median(L.ours_decode_tps) / bench::median(L.tg_tps));
      }
      workloads.push_back({{"workload", w},
                           {"model", model},
                           {"levels", rows},
                           {"item_budgets", budgets},
                           {"decode_weight_bytes", step.weights},
                           {"kv_bytes_per_cell", step.kv_per_cell}});
    }
  } catch (const std::exception& e) {
    std::cerr << "gen_bench: " << e.what() << "\n";
    return 1;
  }
  json out = {{"benchmark", "gen_bench"},
              {"created_at", utc_timestamp()},
              {"options",
               {{"dataset", o.dataset},
                {"items", o.items},
                {"max_tokens", o.max_tokens},
                {"budget_seed", o.budget_seed},
                {"reps", o.reps},
                {"threads", o.threads},
                {"kv_cache", o.kv_cache.empty() ? json("empty per run") : json(o.kv_cache)}}},
              {"workloads", workloads},
              {"bandwidth", to_json(bandwidth)},
              {"build", build_info()},
              {"host", host_info()}};
  fs::create_directories(fs::path(o.out).parent_path());
  if (auto w = write_file_atomically(o.out, out.dump(2) + "\n"); !w) {
    std::cerr << "gen_bench: " << w.error().message << "\n";
    return 1;
  }
  std::cerr << "wrote " << o.out << "\n";
  return 0;
}
