// Loading benchmark (issue: foundation and loading chain). For a synthetic ~300M-parameter Llama
// in F16, in one run: plan time (and for a sparse Llama-3-8B-shaped file); load time per strategy
// with cold and warm page cache; peak RSS per strategy against the bytes of its weights; and
// llama.cpp's own load of the same file as the peer: through llama.cpp's API with its defaults,
// timed like clinbench's init_ms, and llama-completion's reported load time (other work; see
// peer_load_main). Prints a table and writes JSON (bench/results/load_bench.json by default).
//
//   load_bench [--work-dir DIR] [--out FILE] [--reps N] [--threads N]
#include <fcntl.h>
#include <fmt/format.h>
#include <llama.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "clinbench/atomic_file.h"
#include "clinbench/load.h"
#include "clinbench/model_info.h"
#include "clinbench/plan.h"
#include "clinbench/synth.h"
#include "clinbench/units.h"
#include "clinbench/worker.h"
#include "util/background_process.h"
#include "util/subprocess.h"

using namespace clinbench;
using nlohmann::json;

namespace {

void drop_page_cache(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

void warm_page_cache(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buf(1 << 20);
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct PeerRun {
  double load_ms = 0;
  uint64_t peak_rss = 0;
  bool ok = false;
};

// llama.cpp's own load: llama-completion generating one token; its perf print reports the load.
PeerRun run_llama_completion(const std::string& model, int threads, uint32_t n_ctx) {
  PeerRun r;
  const std::string tool = std::string(CLINBENCH_LLAMA_BIN) + "/llama-completion";
  char tmpl[] = "/tmp/clinbench-bench-XXXXXX";
  const int errfd = ::mkstemp(tmpl);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(errfd, 2);
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    int devnull_in = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull_in, 0);
    const std::string t = std::to_string(threads), c = std::to_string(n_ctx);
    ::execl(tool.c_str(), tool.c_str(), "-m", model.c_str(), "-p", "Hello", "-n", "1",
            "--ignore-eos", "--temp", "0", "-no-cnv", "--no-warmup", "-t", t.c_str(), "-c",
            c.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  struct rusage ru {};
  ::wait4(pid, &status, 0, &ru);
  ::close(errfd);
  std::ifstream in(tmpl);
  std::string line;
  std::regex re(R"(load time\s*=\s*([0-9.]+) ms)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, re)) r.load_ms = std::stod(m[1]);
  }
  r.peak_rss = static_cast<uint64_t>(ru.ru_maxrss) * 1024;
  r.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && r.load_ms > 0;
  if (r.ok) {
    ::unlink(tmpl);
  } else {
    std::cerr << "llama-completion exit status " << status << ", log kept in " << tmpl << "\n";
  }
  return r;
}

// llama.cpp's own load through its API with its defaults, in a fresh process (`load_bench
// __peer_load MODEL THREADS N_CTX`): llama_model_load_from_file with llama_model_default_params
// and llama_init_from_model with the context size and threads, timed around the two calls, as
// clinbench's init_ms is. llama-completion's "load time" is kept beside it but measures other
// work: it starts after the GGUF metadata is parsed (about 20 ms for a 128k vocabulary) and ends
// after the first evaluation.
int peer_load_main(const std::string& model, int threads, uint32_t n_ctx) {
  llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  llama_backend_init();
  const auto t0 = std::chrono::steady_clock::now();
  llama_model* m = llama_model_load_from_file(model.c_str(), llama_model_default_params());
  if (m == nullptr) return 1;
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = n_ctx;
  cp.n_threads = threads;
  cp.n_threads_batch = threads;
  llama_context* ctx = llama_init_from_model(m, cp);
  if (ctx == nullptr) return 1;
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%.3f\n", ms);
  llama_free(ctx);
  llama_model_free(m);
  return 0;
}

PeerRun run_peer_load(const std::string& self, const std::string& model, int threads,
                      uint32_t n_ctx) {
  PeerRun r;
  int fds[2];
  if (::pipe(fds) != 0) return r;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    const std::string t = std::to_string(threads), c = std::to_string(n_ctx);
    ::execl(self.c_str(), self.c_str(), "__peer_load", model.c_str(), t.c_str(), c.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  struct rusage ru {};
  ::wait4(pid, &status, 0, &ru);
  r.peak_rss = static_cast<uint64_t>(ru.ru_maxrss) * 1024;
  r.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && !out.empty();
  if (r.ok) r.load_ms = std::stod(out);
  return r;
}

// llama.cpp's own quantization of the same file to a new file (llama-quantize): the peer of the
// quantize:* strategies, which do the same work in memory while loading.
double run_llama_quantize(const std::string& model, const std::string& ftype, int threads,
                          const std::string& work) {
  const std::string tool = std::string(CLINBENCH_LLAMA_BIN) + "/llama-quantize";
  const std::string dst = work + "/peer-" + ftype + ".gguf";
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    const std::string t = std::to_string(threads);
    ::execl(tool.c_str(), tool.c_str(), model.c_str(), dst.c_str(), ftype.c_str(), t.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::filesystem::remove(dst);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? ms : -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (auto rc = run_child_command(argc, argv)) return *rc;
  if (argc == 5 && std::string(argv[1]) == "__peer_load") {
    return peer_load_main(argv[2], std::atoi(argv[3]), static_cast<uint32_t>(std::atoi(argv[4])));
  }
  std::string work = "/tmp/clinbench-bench";
  std::string out = std::string(CLINBENCH_SOURCE_DIR) + "/bench/results/load_bench.json";
  int reps = 3;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--work-dir")
      work = argv[i + 1];
    else if (a == "--out")
      out = argv[i + 1];
    else if (a == "--reps")
      reps = std::atoi(argv[i + 1]);
    else if (a == "--threads")
      threads = std::atoi(argv[i + 1]);
    else {
      std::cerr << "load_bench: unknown option " << a << "\n";
      return 2;
    }
  }
  std::filesystem::create_directories(work);
  std::filesystem::create_directories(std::filesystem::path(out).parent_path());
  const uint32_t n_ctx = 512;

  auto preset = [](const std::string& name) {
    for (const auto& p : synth_presets()) {
      if (p.name == name) return p.shape;
    }
    return SynthShape{};
  };
  const std::string model = work + "/llama-300m-f16.gguf";
  if (!std::filesystem::exists(model)) {
    SynthOptions so;
    so.shape = preset("llama-300m");
    so.type = "f16";
    auto r = write_synthetic_model(so, model);
    if (!r) {
      std::cerr << r.error().message << "\n";
      return 1;
    }
  }
  const std::string big = work + "/llama3-8b-sparse.gguf";
  if (!std::filesystem::exists(big)) {
    SynthOptions so;
    so.shape = preset("llama3-8b");
    so.sparse = true;
    if (auto r = write_synthetic_model(so, big); !r) {
      std::cerr << r.error().message << "\n";
      return 1;
    }
  }

  json result;
  result["clinbench_commit"] = CLINBENCH_GIT_COMMIT;
  result["llama_cpp_commit"] = CLINBENCH_LLAMA_COMMIT;
  result["threads"] = threads;
  result["n_ctx"] = n_ctx;
  result["reps"] = reps;

  // Plan time.
  // The 9B-class file of the aim: Gemma-2-9B's shape with its 262k vocabulary, the largest
  // metadata of the presets.
  const std::string big9 = work + "/gemma2-9b-sparse.gguf";
  if (!std::filesystem::exists(big9)) {
    SynthOptions so;
    so.shape = preset("gemma2-9b");
    so.sparse = true;
    if (auto r = write_synthetic_model(so, big9); !r) {
      std::cerr << r.error().message << "\n";
      return 1;
    }
  }
  for (const auto& [label, path] : {std::pair{"llama-300m-f16", model},
                                    {"llama3-8b-sparse", big},
                                    {"gemma2-9b-sparse", big9}}) {
    auto info = read_model_info(path, {.hash = false});
    std::vector<double> ms;
    for (int r = 0; r < reps; ++r) {
      PlanOptions po;
      po.n_ctx = 4096;
      const auto t0 = std::chrono::steady_clock::now();
      auto plan = plan_model(*info, po);
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (!plan) {
        std::cerr << plan.error().message << "\n";
        return 1;
      }
    }
    result["plan_ms"][label] = median(ms);
    fmt::print("plan {:<18} {:8.1f} ms (median of {}; includes reading metadata)\n", label,
               median(ms), reps);
    // The peer: llama.cpp's own memory fit of the same file at the same context
    // (llama-fit-params, one simulation), against `clinbench inspect --no-hash` (model facts and
    // every strategy's plan), each a fresh process timed from start to exit.
    std::vector<double> ours, peer;
    for (int r = 0; r < reps; ++r) {
      auto a = run_child(
          {.argv = {CLINBENCH_BINARY, "inspect", "--no-hash", "--json", "--ctx", "4096", path},
           .stderr_path = "/dev/null"});
      auto b = run_child({.argv = {std::string(CLINBENCH_LLAMA_BIN) + "/llama-fit-params", "-m",
                                   path, "-c", "4096"},
                          .stderr_path = "/dev/null"});
      if (!a || !b || a->exit_code != 0 || b->exit_code != 0) {
        std::cerr << "inspect or llama-fit-params failed on " << path << "\n";
        return 1;
      }
      ours.push_back(a->wall_ms);
      peer.push_back(b->wall_ms);
    }
    result["inspect_process_ms"][label] = median(ours);
    result["llama_fit_params_process_ms"][label] = median(peer);
    fmt::print(
        "     {:<18} clinbench inspect {:7.1f} ms, llama-fit-params {:7.1f} ms: {:.2f}x "
        "(processes, start to exit)\n",
        label, median(ours), median(peer), median(ours) / median(peer));
  }

  // The same with an accelerator: a 16 GiB device (llama.cpp's RPC server on 127.0.0.1 with a
  // memory cap, as in the tests), where the plan also simulates the model on the device and
  // searches the offload layer count. clinbench's plan_ms (from inspect's JSON) and the inspect
  // process against llama-fit-params fitting the same file to the same device.
  if (auto port = free_local_port()) {
    const std::string endpoint = fmt::format("127.0.0.1:{}", *port);
    auto server =
        BackgroundProcess::start({std::string(CLINBENCH_LLAMA_BIN) + "/ggml-rpc-server", "-H",
                                  "127.0.0.1", "-p", std::to_string(*port), "-m", "16384"},
                                 work + "/rpc-server.log");
    if (server) {
      if (auto up = wait_until_accepting(*port, *server, 10); !up) {
        std::cerr << "ggml-rpc-server: " << up.error().message << "\n";
        return 1;
      }
    }
    for (const auto& [label, path] :
         {std::pair{"llama3-8b-sparse", big}, {"gemma2-9b-sparse", big9}}) {
      std::vector<double> plan_ms, ours, peer;
      for (int r = 0; r < reps && server; ++r) {
        auto a = run_child({.argv = {CLINBENCH_BINARY, "inspect", "--no-hash", "--json", "--ctx",
                                     "4096", "--rpc", endpoint, path},
                            .stderr_path = work + "/inspect-rpc.out"});
        auto b = run_child({.argv = {std::string(CLINBENCH_LLAMA_BIN) + "/llama-fit-params", "-m",
                                     path, "-c", "4096", "--rpc", endpoint},
                            .stderr_path = "/dev/null"});
        if (!a || !b || a->exit_code != 0 || b->exit_code != 0) {
          std::cerr << "inspect or llama-fit-params with --rpc failed on " << path << "\n";
          return 1;
        }
        std::ifstream printed(work + "/inspect-rpc.out");  // its stdout (and stderr)
        const json j = json::parse(printed, nullptr, false);
        if (j.is_discarded() || !j.contains("plan")) {
          std::cerr << "inspect --json printed no plan for " << path << "\n";
          return 1;
        }
        plan_ms.push_back(j["plan"]["plan_ms"].get<double>());
        ours.push_back(a->wall_ms);
        peer.push_back(b->wall_ms);
      }
      if (!server || plan_ms.empty()) {
        std::cerr << "ggml-rpc-server did not start: " << work << "/rpc-server.log\n";
        return 1;
      }
      result["plan_ms_device"][label] = median(plan_ms);
      result["inspect_process_ms_device"][label] = median(ours);
      result["llama_fit_params_process_ms_device"][label] = median(peer);
      fmt::print(
          "plan {:<18} {:8.1f} ms with a 16 GiB device; clinbench inspect {:7.1f} ms, "
          "llama-fit-params {:7.1f} ms: {:.2f}x (processes)\n",
          label, median(plan_ms), median(ours), median(peer), median(ours) / median(peer));
    }
  }

  auto info = read_model_info(model, {.hash = false});
  fmt::print("\nmodel {}: {} parameters, {} of f16 weights, {} threads, context {}\n", model,
             info->n_params, format_bytes(info->weight_bytes), threads, n_ctx);

  // llama.cpp's own load, warm and cold: through its API (the peer of init_ms), and
  // llama-completion's reported load time.
  json peer, peer_api;
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  for (const char* cache : {"warm", "cold"}) {
    std::vector<double> ms, api_ms;
    uint64_t rss = 0, api_rss = 0;
    for (int r = 0; r < reps; ++r) {
      if (std::string(cache) == "cold")
        drop_page_cache(model);
      else
        warm_page_cache(model);
      PeerRun a = run_peer_load(self, model, threads, n_ctx);
      if (!a.ok) {
        std::cerr << "llama.cpp API load failed\n";
        return 1;
      }
      api_ms.push_back(a.load_ms);
      api_rss = std::max(api_rss, a.peak_rss);
      if (std::string(cache) == "cold") drop_page_cache(model);
      // llama-completion now and then ends without its performance report (seen on a loaded
      // machine); such a run has no load time to read, so it is run again, up to three times.
      PeerRun p = run_llama_completion(model, threads, n_ctx);
      for (int retry = 0; retry < 2 && !p.ok; ++retry)
        p = run_llama_completion(model, threads, n_ctx);
      // Its report is secondary (the API load is the peer): a run without one is left out.
      if (!p.ok) {
        std::cerr << "llama-completion printed no load time in 3 runs (" << cache << ")\n";
        continue;
      }
      ms.push_back(p.load_ms);
      rss = std::max(rss, p.peak_rss);
    }
    peer[cache] = {{"load_ms", ms.empty() ? json(nullptr) : json(median(ms))},
                   {"peak_rss", rss},
                   {"runs_with_report", ms.size()}};
    peer_api[cache] = {{"load_ms", median(api_ms)}, {"peak_rss", api_rss}};
  }
  result["llama_cpp"] = peer;
  result["llama_cpp_api"] = peer_api;

  fmt::print("\n{:<14} {:>6} {:>10} {:>10} {:>8} {:>11} {:>11} {:>8} {:>9}\n", "strategy", "cache",
             "init ms", "peer ms", "ratio", "peak RSS", "weights", "RSS/wt", "RSS-ctx/wt");
  for (const char* cache : {"warm", "cold"}) {
    fmt::print("{:<14} {:>6} {:>10.1f} {:>10} {:>8} {:>11} {:>11}\n", "llama.cpp API", cache,
               peer_api[cache]["load_ms"].get<double>(), "-", "-",
               format_bytes(peer_api[cache]["peak_rss"].get<uint64_t>()),
               format_bytes(info->weight_bytes));
  }
  for (const char* cache : {"warm", "cold"}) {
    fmt::print("{:<14} {:>6} {:>10} {:>10} {:>8} {:>11}   (llama-completion's load time)\n",
               "llama-compl.", cache,
               peer[cache]["load_ms"].is_null()
                   ? std::string("-")
                   : fmt::format("{:.1f}", peer[cache]["load_ms"].get<double>()),
               "-", "-", format_bytes(peer[cache]["peak_rss"].get<uint64_t>()));
  }

  for (const char* s : {"native", "quantize:q8", "quantize:q4", "cpu"}) {
    for (const char* cache : {"warm", "cold"}) {
      std::vector<double> ms;
      uint64_t rss = 0, weights = 0, ctx_bytes = 0;
      for (int r = 0; r < reps; ++r) {
        if (std::string(cache) == "cold")
          drop_page_cache(model);
        else
          warm_page_cache(model);
        LoadOptions o;
        o.strategy = s;
        o.hash = false;
        o.n_ctx = n_ctx;
        o.n_threads = threads;
        o.warmup.enabled = false;
        auto log = run_load_chain(model, o);
        if (!log || !log->succeeded) {
          std::cerr << s << " failed: " << (log ? format_attempt_log(*log) : log.error().message);
          return 1;
        }
        const Attempt& a = log->attempts[*log->succeeded];
        ms.push_back(*a.init_ms);
        rss = std::max(rss, a.peak_rss_bytes.value_or(0));
        weights = a.projected_host.weights + a.projected_device.weights;
        ctx_bytes = a.projected_host.kv + a.projected_host.compute;
      }
      const double peer_ms = peer_api[cache]["load_ms"].get<double>();
      const double ratio = median(ms) / peer_ms;
      const json completion_ms = peer[cache]["load_ms"];
      result["strategies"][s][cache] = {
          {"init_ms", median(ms)},
          {"peer_load_ms", peer_ms},
          {"ratio_to_llama_cpp", ratio},
          {"llama_completion_load_ms", completion_ms},
          {"ratio_to_llama_completion", completion_ms.is_null()
                                            ? json(nullptr)
                                            : json(median(ms) / completion_ms.get<double>())},
          {"peak_rss", rss},
          {"weight_bytes", weights},
          {"context_bytes", ctx_bytes},
          {"rss_over_weights", double(rss) / weights},
          {"rss_minus_context_over_weights", double(rss - std::min(rss, ctx_bytes)) / weights}};
      fmt::print("{:<14} {:>6} {:>10.1f} {:>10.1f} {:>7.2f}x {:>11} {:>11} {:>7.2f}x {:>8.2f}x\n",
                 s, cache, median(ms), peer_ms, ratio, format_bytes(rss), format_bytes(weights),
                 double(rss) / weights, double(rss - std::min(rss, ctx_bytes)) / weights);
    }
  }
  // Quantization against llama-quantize (once each: tens of seconds on two cores).
  fmt::print("\nquantization peer (llama-quantize to a file, {} threads, warm cache):\n", threads);
  for (const auto& [s, ftype] : {std::pair{"quantize:q8", "Q8_0"}, {"quantize:q4", "Q4_K_M"}}) {
    warm_page_cache(model);
    const double peer_ms = run_llama_quantize(model, ftype, threads, work);
    const double ours = result["strategies"][s]["warm"]["init_ms"].get<double>();
    result["llama_quantize"][ftype] = peer_ms;
    result["strategies"][s]["warm"]["ratio_to_llama_quantize"] = ours / peer_ms;
    fmt::print(
        "  {:<12} ours {:9.1f} ms (load incl. quantization)  llama-quantize {} {:9.1f} ms  "
        "ratio {:.2f}x\n",
        s, ours, ftype, peer_ms, ours / peer_ms);
  }
  if (auto w = write_file_atomically(out, result.dump(2) + "\n"); !w) {
    std::cerr << w.error().message << "\n";
    return 1;
  }
  fmt::print("\nwritten to {}\n", out);
  return 0;
}
