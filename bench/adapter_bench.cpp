// LoRA adapters: what they cost (issue 15, "Measured"). A synthetic ~300M-parameter Llama
// (llama-300m; q4_0 by default, the QLoRA arrangement of a quantized base under an f32 adapter)
// and random adapters of each rank on every block's attention and feed-forward projections
// (write_synthetic_lora, as `clinbench synth --lora-for` writes them), in one run:
//  - load: init_ms (model, adapters, context) and peak RSS of a load-only attempt in a worker
//    (run_load_chain, native, no warm-up), without and with each adapter, warm page cache. The
//    peer is llama.cpp's own load of the same files through its API in a fresh process
//    (llama_model_load_from_file, llama_adapter_lora_init, llama_init_from_model,
//    llama_set_adapters_lora with default parameters), timed around the same calls;
//  - decode: the generation rate (output tokens / decode_ms) of `clinbench run` on --items
//    MMLU-medical items with one sequence and --max-tokens per reply (the model never ends one),
//    without and with each adapter. The peer is llama.cpp's own run of the same files,
//    llama-completion [--lora FILE] (greedy, --ignore-eos, the same reply length, a prompt of
//    about the items' mean length): its decode rate ("eval time", tokens per second).
// Prints each ratio against the peer and writes JSON (bench/results/adapter_bench.json).
//
//   adapter_bench [--ranks 8,64] [--type q4_0] [--reps 3] [--decode-reps 1] [--items 4]
//                 [--max-tokens 64] [--threads N] [--work-dir DIR] [--out FILE]
#include <fcntl.h>
#include <fmt/format.h>
#include <llama.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "clinbench/atomic_file.h"
#include "clinbench/dataset.h"
#include "clinbench/load.h"
#include "clinbench/provenance.h"
#include "clinbench/run.h"
#include "clinbench/synth.h"
#include "clinbench/units.h"
#include "clinbench/worker.h"

using namespace clinbench;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Options {
  std::vector<int> ranks = {8, 64};
  std::string type = "q4_0";
  int reps = 3;
  int decode_reps = 1;
  size_t items = 4;
  int max_tokens = 64;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string dataset = std::string(CLINBENCH_SOURCE_DIR) + "/../shared/data/mmlu-medical/test";
  std::string work_dir = "/tmp/clinbench-adapter-bench";
  std::string out = std::string(CLINBENCH_SOURCE_DIR) + "/bench/results/adapter_bench.json";
};

constexpr uint32_t kLoadCtx = 512;

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return fmt::format("{} {} {}", a, b, c);
}

void warm_page_cache(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buf(1 << 20);
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
  }
}

// llama.cpp's own load of the base and its adapter through its API with its defaults, in this
// process (`adapter_bench __peer_load MODEL THREADS N_CTX [ADAPTER]`): prints the milliseconds.
int peer_load_main(const std::string& model, int threads, uint32_t n_ctx,
                   const std::string& adapter) {
  llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  llama_backend_init();
  const auto t0 = std::chrono::steady_clock::now();
  llama_model* m = llama_model_load_from_file(model.c_str(), llama_model_default_params());
  if (m == nullptr) return 1;
  llama_adapter_lora* a = nullptr;
  if (!adapter.empty()) {
    a = llama_adapter_lora_init(m, adapter.c_str());
    if (a == nullptr) return 1;
  }
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = n_ctx;
  cp.n_threads = threads;
  cp.n_threads_batch = threads;
  llama_context* ctx = llama_init_from_model(m, cp);
  if (ctx == nullptr) return 1;
  if (a != nullptr) {
    float scale = 1.0f;
    if (llama_set_adapters_lora(ctx, &a, 1, &scale) != 0) return 1;
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%.3f\n", ms);
  llama_free(ctx);
  llama_model_free(m);
  return 0;
}

struct PeerLoad {
  double ms = 0;
  uint64_t peak_rss = 0;
};

PeerLoad run_peer_load(const std::string& model, int threads, const std::string& adapter) {
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    const std::string t = std::to_string(threads), c = std::to_string(kLoadCtx);
    ::execl(self.c_str(), self.c_str(), "__peer_load", model.c_str(), t.c_str(), c.c_str(),
            adapter.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string out;
  char buf[256];
  ssize_t n = 0;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  struct rusage ru {};
  ::wait4(pid, &status, 0, &ru);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || out.empty()) {
    throw std::runtime_error("llama.cpp's API load failed for " + model + " " + adapter);
  }
  return {std::stod(out), static_cast<uint64_t>(ru.ru_maxrss) * 1024};
}

// llama.cpp's own generation with the adapter: llama-completion [--lora FILE] on a prompt of
// about `chars` characters of the dataset's items, `ntg` tokens (--ignore-eos, greedy). Its perf
// report gives the prompt's tokens and the decode rate ("eval time ... runs ... tokens per
// second"). llama-batched-bench is not the peer: at this llama.cpp commit it loads the model
// itself and ignores --lora.
struct PeerDecode {
  double tokens_per_s = 0;
  int prompt_tokens = 0;
};

PeerDecode run_completion(const std::string& model, const std::string& adapter,
                          const std::string& prompt_file, int npp, int ntg, int threads,
                          const std::string& log) {
  const std::string cmd = fmt::format(
      "'{}/llama-completion' -m '{}' {} -f '{}' -n {} --ignore-eos --temp 0 -no-cnv -c {} -t {} "
      "-lv 4 </dev/null >/dev/null 2>'{}'",
      CLINBENCH_LLAMA_BIN, model, adapter.empty() ? "" : fmt::format("--lora '{}'", adapter),
      prompt_file, ntg, 2 * npp + ntg + 64, threads, log);
  if (const int rc = std::system(cmd.c_str()); rc != 0) {
    throw std::runtime_error(fmt::format("llama-completion exited with {} (see {})", rc, log));
  }
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  // Its verbose log (-lv 4) names each adapter it loads.
  if (!adapter.empty() &&
      text.find(fmt::format("loading lora adapter from '{}'", adapter)) == std::string::npos) {
    throw std::runtime_error("llama-completion did not load the adapter (see " + log + ")");
  }
  const std::regex prompt(R"(prompt eval time\s*=\s*[\d.]+ ms /\s*(\d+) tokens)");
  const std::regex eval(R"(\s eval time\s*=.*runs.*,\s*([\d.]+) tokens per second)");
  std::smatch mp, me;
  if (!std::regex_search(text, mp, prompt) || !std::regex_search(text, me, eval)) {
    throw std::runtime_error("no performance report in " + log);
  }
  return {std::stod(me[1]), std::stoi(mp[1])};
}

// The peer's prompt: the dataset's items (question and options) as plain text, cut to `n`
// tokens of the model's vocabulary less one (llama-completion adds BOS), so that its KV holds as
// many cells as clinbench's mean item when the replies start.
std::string write_prompt(const Options& o, const std::string& model, int n) {
  auto ds = read_dataset(o.dataset);
  if (!ds) throw std::runtime_error(ds.error().message);
  std::string text;
  for (const auto& it : ds->items) {
    if (text.size() >= static_cast<size_t>(8 * n)) break;
    text += it.question + "\n";
    for (const auto& [letter, option] : it.options) text += letter + ". " + option + "\n";
  }
  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  mp.vocab_only = true;
  llama_model* m = llama_model_load_from_file(model.c_str(), mp);
  if (m == nullptr) throw std::runtime_error("cannot read the vocabulary of " + model);
  const llama_vocab* vocab = llama_model_get_vocab(m);
  std::vector<llama_token> tokens(text.size() + 8);
  const int k = llama_tokenize(vocab, text.c_str(), static_cast<int32_t>(text.size()),
                               tokens.data(), static_cast<int32_t>(tokens.size()), false, false);
  tokens.resize(static_cast<size_t>(std::clamp(k, 0, std::max(0, n - 1))));
  std::string prompt;
  for (const llama_token t : tokens) {
    char piece[256];
    const int len = llama_token_to_piece(vocab, t, piece, sizeof(piece), 0, false);
    if (len > 0) prompt.append(piece, static_cast<size_t>(len));
  }
  llama_model_free(m);
  const std::string path = fmt::format("{}/prompt-{}.txt", o.work_dir, n);
  if (auto w = write_file_atomically(path, prompt); !w) throw std::runtime_error(w.error().message);
  return path;
}

std::string synthetic_base(const Options& o) {
  const std::string path = fmt::format("{}/llama-300m-{}.gguf", o.work_dir, o.type);
  if (fs::exists(path)) return path;
  SynthOptions so;
  for (const auto& p : synth_presets()) {
    if (p.name == "llama-300m") so.shape = p.shape;
  }
  so.type = o.type;
  std::cerr << "writing " << path << " ...\n";
  if (auto r = write_synthetic_model(so, path); !r) throw std::runtime_error(r.error().message);
  return path;
}

std::string synthetic_adapter(const Options& o, const std::string& base, int rank) {
  const std::string path = fmt::format("{}/lora-r{}.gguf", o.work_dir, rank);
  if (fs::exists(path)) return path;
  LoraSynthOptions lo;
  lo.base = base;
  lo.rank = static_cast<uint32_t>(rank);
  if (auto r = write_synthetic_lora(lo, path); !r) throw std::runtime_error(r.error().message);
  return path;
}

// One configuration: the base alone (rank 0) or with one adapter.
struct Config {
  std::string name;
  int rank = 0;
  std::string adapter;  // "" for the base alone
  uint64_t adapter_bytes = 0;
  std::vector<double> init_ms, peer_ms;
  uint64_t peak_rss = 0, peer_peak_rss = 0;
  std::vector<double> decode_tps, peer_tps;
  double prompt_tokens = 0;    // clinbench's items, mean (chat template included)
  int peer_prompt_tokens = 0;  // the peer's prompt
};

void measure_load(const Options& o, const std::string& base, Config& c) {
  for (int r = 0; r < o.reps; ++r) {
    warm_page_cache(base);
    if (!c.adapter.empty()) warm_page_cache(c.adapter);
    LoadOptions lo;
    lo.strategy = "native";
    lo.hash = false;
    lo.n_ctx = kLoadCtx;
    lo.n_threads = o.threads;
    lo.warmup.enabled = false;
    if (!c.adapter.empty()) lo.adapters.push_back({c.adapter, 1.0f});
    auto log = run_load_chain(base, lo);
    if (!log) throw std::runtime_error(log.error().message);
    if (!log->succeeded) throw std::runtime_error(c.name + ": " + format_attempt_log(*log));
    const Attempt& a = log->attempts[*log->succeeded];
    c.init_ms.push_back(a.init_ms.value_or(0));
    c.peak_rss = std::max(c.peak_rss, a.peak_rss_bytes.value_or(0));
    if (!log->adapters.empty()) c.adapter_bytes = log->adapters[0].bytes;
    const PeerLoad p = run_peer_load(base, o.threads, c.adapter);
    c.peer_ms.push_back(p.ms);
    c.peer_peak_rss = std::max(c.peer_peak_rss, p.peak_rss);
  }
}

// clinbench's decode rate, as llama.cpp's "eval time" counts it: decode steps over decode time
// (bench::Measure::decode_steps: a reply cut by its budget does not decode its last token).
double decode_rate(const bench::Measure& m) { return m.decode_steps_per_s(); }

void measure_decode(const Options& o, const std::string& base, Config& c) {
  for (int r = 0; r < o.decode_reps; ++r) {
    RunConfig cfg;
    DatasetConfig d;
    d.name = "bench";
    d.path = o.dataset;
    d.limit = o.items;
    cfg.datasets.push_back(d);
    cfg.decoding.max_tokens = o.max_tokens;
    cfg.decoding.parallel = 1;
    ModelConfig m;
    m.name = c.name;
    m.path = base;
    m.strategy = "native";
    m.ctx = static_cast<uint32_t>(1024 + o.max_tokens);
    m.threads = o.threads;
    if (!c.adapter.empty()) m.adapters.push_back({c.adapter, 1.0f});
    cfg.models.push_back(m);
    cfg.out = fmt::format("{}/run-{}", o.work_dir, c.name);
    const bench::Measure ours = bench::run_once(cfg);
    c.decode_tps.push_back(decode_rate(ours));
    c.prompt_tokens = ours.prompt_tokens;
    const int ntg = static_cast<int>(ours.output_tokens / std::max<int64_t>(1, ours.items));
    const int npp = static_cast<int>(ours.prompt_tokens + 0.5);
    const std::string prompt = write_prompt(o, base, npp);
    const PeerDecode p =
        run_completion(base, c.adapter, prompt, npp, std::max(1, ntg), o.threads,
                       fmt::format("{}/completion-{}-{}.log", o.work_dir, c.name, r));
    c.peer_tps.push_back(p.tokens_per_s);
    c.peer_prompt_tokens = p.prompt_tokens;
    std::cerr << fmt::format("{} decode: clinbench {:.1f} tok/s, llama-completion {:.1f} tok/s\n",
                             c.name, c.decode_tps.back(), c.peer_tps.back());
  }
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + ": needs a value");
      return argv[++i];
    };
    if (a == "--ranks")
      o.ranks = bench::parse_ints(next());
    else if (a == "--type")
      o.type = next();
    else if (a == "--reps")
      o.reps = std::stoi(next());
    else if (a == "--decode-reps")
      o.decode_reps = std::stoi(next());
    else if (a == "--items")
      o.items = std::stoul(next());
    else if (a == "--max-tokens")
      o.max_tokens = std::stoi(next());
    else if (a == "--threads")
      o.threads = std::stoi(next());
    else if (a == "--work-dir")
      o.work_dir = next();
    else if (a == "--out")
      o.out = next();
    else
      throw std::runtime_error("unknown option " + a + " (see bench/adapter_bench.cpp's header)");
  }
  return o;
}

json config_json(const Config& c) {
  const double ours = bench::median(c.init_ms), peer = bench::median(c.peer_ms);
  const double tps = bench::median(c.decode_tps), peer_tps = bench::median(c.peer_tps);
  return {{"name", c.name},
          {"rank", c.rank},
          {"adapter", c.adapter},
          {"adapter_bytes", c.adapter_bytes},
          {"init_ms", ours},
          {"init_ms_reps", c.init_ms},
          {"peer_load_ms", peer},
          {"peer_load_ms_reps", c.peer_ms},
          {"load_ratio_to_llama_cpp", peer > 0 ? ours / peer : 0},
          {"peak_rss", c.peak_rss},
          {"peer_peak_rss", c.peer_peak_rss},
          {"decode_tokens_per_s", tps},
          {"decode_tokens_per_s_reps", c.decode_tps},
          {"llama_completion_tokens_per_s", peer_tps},
          {"llama_completion_tokens_per_s_reps", c.peer_tps},
          {"decode_ratio_to_llama_cpp", peer_tps > 0 ? tps / peer_tps : 0},
          {"mean_prompt_tokens", c.prompt_tokens},
          {"peer_prompt_tokens", c.peer_prompt_tokens}};
}

}  // namespace

int main(int argc, char** argv) {
  // The loading attempts and the run's workers re-execute this program.
  if (auto rc = run_child_command(argc, argv)) return *rc;
  if ((argc == 5 || argc == 6) && std::string(argv[1]) == "__peer_load") {
    return peer_load_main(argv[2], std::atoi(argv[3]), static_cast<uint32_t>(std::atoi(argv[4])),
                          argc == 6 ? argv[5] : "");
  }
  try {
    const Options o = parse_options(argc, argv);
    fs::create_directories(o.work_dir);
    const std::string load_before = load_average();
    const std::string base = synthetic_base(o);
    std::vector<Config> configs = {{"base"}};
    for (int r : o.ranks) {
      configs.push_back({fmt::format("lora-r{}", r), r, synthetic_adapter(o, base, r)});
    }
    for (auto& c : configs) measure_load(o, base, c);
    for (auto& c : configs) measure_decode(o, base, c);
    const std::string load_after = load_average();

    fmt::print("\nbase {} ({}), {} threads; load average {} before, {} after\n", base,
               format_bytes(fs::file_size(base)), o.threads, load_before, load_after);
    fmt::print("{:<9} {:>9} {:>9} {:>9} {:>7} {:>10} {:>10} {:>9} {:>9} {:>7}\n", "", "adapter",
               "init ms", "peer ms", "ratio", "peak RSS", "peer RSS", "tok/s", "peer t/s", "ratio");
    json rows = json::array();
    for (const auto& c : configs) {
      const json j = config_json(c);
      rows.push_back(j);
      fmt::print(
          "{:<9} {:>9} {:>9.1f} {:>9.1f} {:>6.2f}x {:>10} {:>10} {:>9.1f} {:>9.1f} {:>6.2f}x\n",
          c.name, c.adapter.empty() ? "-" : format_bytes(c.adapter_bytes),
          j["init_ms"].get<double>(), j["peer_load_ms"].get<double>(),
          j["load_ratio_to_llama_cpp"].get<double>(), format_bytes(c.peak_rss),
          format_bytes(c.peer_peak_rss), j["decode_tokens_per_s"].get<double>(),
          j["llama_completion_tokens_per_s"].get<double>(),
          j["decode_ratio_to_llama_cpp"].get<double>());
    }
    const json out = {{"benchmark", "adapter_bench"},
                      {"created_at", utc_timestamp()},
                      {"base", base},
                      {"base_type", o.type},
                      {"load_average_before", load_before},
                      {"load_average_after", load_after},
                      {"options",
                       {{"ranks", o.ranks},
                        {"reps", o.reps},
                        {"decode_reps", o.decode_reps},
                        {"items", o.items},
                        {"max_tokens", o.max_tokens},
                        {"threads", o.threads},
                        {"load_ctx", kLoadCtx},
                        {"dataset", o.dataset}}},
                      {"configs", rows},
                      {"build", build_info()},
                      {"host", host_info()}};
    fs::create_directories(fs::path(o.out).parent_path());
    if (auto w = write_file_atomically(o.out, out.dump(2) + "\n"); !w) {
      throw std::runtime_error(w.error().message);
    }
    fmt::print("written to {}\n", o.out);
  } catch (const std::exception& e) {
    std::cerr << "adapter_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
