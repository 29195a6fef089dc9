// Evaluation benchmark (issue 3, "Benchmark"). For a synthetic ~300M-parameter Llama in q8_0
// and q4_0 and 200 MMLU-medical test items, in one run:
//  - loglik throughput: clinbench's evaluate_item with scoring loglik, in-process, in items/s,
//    against llama.cpp's `llama-perplexity --multiple-choice` on the same items, prompts and file;
//  - generation: clinbench's generate path (greedy, 128 tokens) in tokens/s against
//    `llama-bench -p 0 -n 128` on the same file and threads;
//  - harness overhead: the share of the evaluation loop's wall time (RunStore writes included)
//    spent outside llama_decode.
// Every measurement is repeated (--reps) with clinbench and its peer interleaved, so both see
// the same machine load; medians are reported. Prints a table and writes JSON
// (bench/results/eval_bench.json by default).
//
//   eval_bench [--work-dir DIR] [--out FILE] [--reps N] [--threads N] [--items N]
//              [--gen-items N] [--max-tokens N] [--seed N] [--types q8_0,q4_0]
#include <chat.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <llama.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "backend/llama_backend.h"
#include "clinbench/atomic_file.h"
#include "clinbench/backend.h"
#include "clinbench/dataset.h"
#include "clinbench/evaluate.h"
#include "clinbench/select.h"
#include "clinbench/store.h"
#include "clinbench/synth.h"
#include "clinbench/version.h"
#include "model/backend_init.h"
#include "model/llama_chat.h"
#include "util/clock.h"

using namespace clinbench;
using nlohmann::json;

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string first_line_of(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        return v;
      }
    }
  }
  return "";
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double tv_s(const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; }

// How loaded the machine was by others during a measurement: the CPU time all cores spent busy,
// less this process's and its measured child's, as a share of all cores over the wall time.
// On a small shared machine other work on the cores slows llama.cpp's threads (which wait for
// each other at every graph node) far more than its share of the CPU.
struct CpuMark {
  double busy_s = 0;  // /proc/stat: all cores, busy (user, nice, system, irq, softirq, steal)
  double self_s = 0;  // this process, all threads
  Clock::time_point t = Clock::now();
};

CpuMark cpu_mark() {
  CpuMark m;
  std::ifstream in("/proc/stat");
  std::string cpu;
  uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  m.busy_s = static_cast<double>(user + nice + system + irq + softirq + steal) /
             static_cast<double>(::sysconf(_SC_CLK_TCK));
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  m.self_s = tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
  return m;
}

double foreign_share(const CpuMark& a, const CpuMark& b, double child_cpu_s) {
  const double wall = std::chrono::duration<double>(b.t - a.t).count();
  const double cores = static_cast<double>(std::max(1u, std::thread::hardware_concurrency()));
  const double foreign = (b.busy_s - a.busy_s) - (b.self_s - a.self_s) - child_cpu_s;
  return wall > 0 ? std::max(0.0, foreign / (wall * cores)) : 0;
}

// [begin, end) ranges of at most `size` of n items.
std::vector<std::pair<size_t, size_t>> chunks_of(size_t n, size_t size) {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t b = 0; b < n; b += std::max<size_t>(1, size)) {
    out.emplace_back(b, std::min(n, b + std::max<size_t>(1, size)));
  }
  return out;
}

// --- peers: llama.cpp's tools as child processes ---------------------------------------------

struct ToolRun {
  int status = -1;
  double wall_ms = 0;
  double cpu_s = 0;    // user + system time of the child
  std::string output;  // stdout and stderr together
  bool ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

// Runs `tool args...` with stdin from /dev/null; stdout to its own file when split_stdout (JSON
// output), else stdout and stderr together.
ToolRun run_tool(const std::string& tool, const std::vector<std::string>& args,
                 const std::string& log_path, bool split_stdout = false) {
  ToolRun r;
  const std::string out_path = log_path + ".out";
  const auto t0 = Clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the benchmark
    const int in = ::open("/dev/null", O_RDONLY);
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int out =
        split_stdout ? ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644) : log;
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(log, 2);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(tool.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(tool.c_str(), argv.data());
    ::_exit(127);
  }
  struct rusage ru {};
  ::wait4(pid, &r.status, 0, &ru);
  r.wall_ms = ms_since(t0);
  r.cpu_s = tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
  r.output = read_text(split_stdout ? out_path : log_path);
  if (split_stdout) {
    r.output += '\n';
    r.output += read_text(log_path);
  }
  return r;
}

// llama-perplexity's binary multiple-choice file (tools/perplexity/perplexity.cpp,
// multiple_choice_score and multiple_choice_task::deserialize), all integers little-endian:
//   uint32 n_task; uint32 offset[n_task] (byte offset of each task from the file start);
//   per task: string question; mc1 = {uint32 n; string answer[n]; int32 label[n]};
//   mc2 = the same (not used by the tool; written empty). string = uint32 length, bytes.
// The tool scores `question + " " + answer` for each answer, after its own BOS.
struct McTask {
  std::string question;
  std::vector<std::string> answers;
  std::vector<int32_t> labels;
};

void put_u32(std::string& out, uint32_t v) {
  const unsigned char b[4] = {static_cast<unsigned char>(v), static_cast<unsigned char>(v >> 8),
                              static_cast<unsigned char>(v >> 16),
                              static_cast<unsigned char>(v >> 24)};
  out.append(reinterpret_cast<const char*>(b), 4);
}

void put_string(std::string& out, const std::string& s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out += s;
}

std::string encode_mc_tasks(const std::vector<McTask>& tasks) {
  std::vector<std::string> blobs;
  for (const auto& t : tasks) {
    std::string b;
    put_string(b, t.question);
    put_u32(b, static_cast<uint32_t>(t.answers.size()));
    for (const auto& a : t.answers) put_string(b, a);
    for (int32_t l : t.labels) put_u32(b, static_cast<uint32_t>(l));
    put_u32(b, 0);  // mc2: no answers
    blobs.push_back(std::move(b));
  }
  std::string out;
  put_u32(out, static_cast<uint32_t>(tasks.size()));
  uint32_t pos = static_cast<uint32_t>(4 + 4 * tasks.size());
  for (const auto& b : blobs) {
    put_u32(out, pos);
    pos += static_cast<uint32_t>(b.size());
  }
  for (const auto& b : blobs) out += b;
  return out;
}

struct PerplexityRun {
  bool ok = false;
  double wall_ms = 0;
  double load_ms = 0;         // reported: model load and warm-up
  double total_ms = 0;        // reported "total time": from after the warm-up to the end
  double prompt_eval_ms = 0;  // reported "prompt eval time" (undercounts llama_decode: see notes)
  int64_t tokens = 0;         // reported prompt eval tokens
  double cpu_s = 0;           // user + system time of the process
  std::vector<int> correct;   // per task, from the running accuracy it prints
};

// Sums the runs of consecutive chunks of tasks.
void add(PerplexityRun& into, const PerplexityRun& r) {
  into.wall_ms += r.wall_ms;
  into.load_ms += r.load_ms;
  into.total_ms += r.total_ms;
  into.prompt_eval_ms += r.prompt_eval_ms;
  into.tokens += r.tokens;
  into.cpu_s += r.cpu_s;
  into.correct.insert(into.correct.end(), r.correct.begin(), r.correct.end());
}

PerplexityRun run_llama_perplexity(const std::string& model, const std::string& tasks_file,
                                   size_t n_tasks, int threads, const std::string& log_path) {
  const std::string tool = std::string(CLINBENCH_LLAMA_BIN) + "/llama-perplexity";
  ToolRun t =
      run_tool(tool,
               {"-m", model, "--multiple-choice", "-f", tasks_file, "--multiple-choice-tasks",
                std::to_string(n_tasks), "-c", "1024", "-lv", "4", "-t", std::to_string(threads)},
               log_path);
  PerplexityRun r;
  r.wall_ms = t.wall_ms;
  r.cpu_s = t.cpu_s;
  std::smatch m;
  const std::regex load_re(R"(load time\s*=\s*([0-9.]+) ms)");
  const std::regex pe_re(R"(prompt eval time\s*=\s*([0-9.]+) ms /\s*([0-9]+) tokens)");
  const std::regex total_re(R"(total time\s*=\s*([0-9.]+) ms)");
  const std::regex task_re(R"(^([0-9]+)\t([0-9.]+)$)");
  std::istringstream in(t.output);
  std::string line;
  int prev_correct = 0;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, load_re)) r.load_ms = std::stod(m[1]);
    if (std::regex_search(line, m, pe_re)) {
      r.prompt_eval_ms = std::stod(m[1]);
      r.tokens = std::stoll(m[2]);
    }
    if (std::regex_search(line, m, total_re)) r.total_ms = std::stod(m[1]);
    if (std::regex_match(line, m, task_re)) {
      const int n = std::stoi(m[1]);
      const int c = static_cast<int>(std::lround(std::stod(m[2]) * n / 100.0));
      r.correct.push_back(c - prev_correct);
      prev_correct = c;
    }
  }
  r.ok = t.ok() && r.total_ms > 0 && r.correct.size() == n_tasks;
  if (r.ok) {
    std::filesystem::remove(log_path);
  } else {
    std::cerr << "llama-perplexity failed (status " << t.status << ", " << r.correct.size()
              << " of " << n_tasks << " tasks scored); log kept in " << log_path << "\n";
  }
  return r;
}

struct LlamaBenchRun {
  bool ok = false;
  double cpu_s = 0;
  std::vector<json> results;  // one per test (depth)
};

LlamaBenchRun run_llama_bench(const std::string& model, int n_gen, int threads,
                              const std::vector<int>& depths, const std::string& log_path) {
  const std::string tool = std::string(CLINBENCH_LLAMA_BIN) + "/llama-bench";
  std::string d;
  for (int x : depths) {
    if (!d.empty()) d += ',';
    d += std::to_string(x);
  }
  ToolRun t = run_tool(tool,
                       {"-m", model, "-p", "0", "-n", std::to_string(n_gen), "-t",
                        std::to_string(threads), "-d", d, "-o", "json"},
                       log_path, true);
  LlamaBenchRun r;
  r.cpu_s = t.cpu_s;
  const size_t open = t.output.find('[');
  const size_t close = t.output.rfind(']');
  if (t.ok() && open != std::string::npos && close != std::string::npos && close > open) {
    json j = json::parse(t.output.substr(open, close - open + 1), nullptr, false);
    if (j.is_array() && j.size() == depths.size()) {
      for (auto& e : j) r.results.push_back(e);
      r.ok = true;
    }
  }
  if (r.ok) {
    std::filesystem::remove(log_path);
    std::filesystem::remove(log_path + ".out");
  } else {
    std::cerr << "llama-bench failed (status " << t.status << "); log kept in " << log_path << "\n";
  }
  return r;
}

// --- clinbench in-process -------------------------------------------------------------------

// Records the request evaluate_item makes for an item, without a model: for loglik the messages,
// the assistant prefix and the continuations are clinbench's own prompt, which the peer's task
// file then reproduces; for generate, the messages (the prompt's length sets llama-bench's
// depth).
class CapturingBackend final : public Backend {
 public:
  struct Request {
    std::vector<ChatMessage> messages;
    std::string prefix;
    std::vector<std::pair<std::string, std::string>> continuations;
  };

  Result<Generation> generate(const std::vector<ChatMessage>& messages,
                              const GenerationParams&) override {
    last = Request{messages, "", {}};
    return Generation{};
  }
  Result<LoglikScores> loglik(
      const std::vector<ChatMessage>& messages, const std::string& assistant_prefix,
      const std::vector<std::pair<std::string, std::string>>& continuations) override {
    last = Request{messages, assistant_prefix, continuations};
    LoglikScores s;
    for (const auto& [letter, text] : continuations) s.options.push_back({letter, 0.0, 1});
    return s;
  }
  int64_t count_tokens(const std::string&) override { return 0; }
  BackendStats stats() const override { return {}; }

  Request last;
};

struct ModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ContextDeleter {
  void operator()(llama_context* c) const { llama_free(c); }
};

struct Pass {
  double wall_ms = 0;    // the whole loop: evaluate_item and record_item for every item
  double store_ms = 0;   // record_item alone
  double engine_ms = 0;  // inside llama_decode (BackendStats)
  int64_t engine_calls = 0;
  int64_t engine_tokens = 0;
  int items = 0;
  int errors = 0;
  int correct = 0;
  int scored = 0;
  int truncated = 0;
  int64_t output_tokens = 0;
  int64_t prompt_tokens = 0;
  double decode_ms = 0;  // ItemRecord decode_ms, summed
  std::vector<std::optional<bool>> correct_by_item;
  std::string first_error;

  double overhead() const { return wall_ms > 0 ? (wall_ms - engine_ms) / wall_ms : 0; }
};

// Sums the passes over consecutive chunks of items.
void add(Pass& into, const Pass& p) {
  into.wall_ms += p.wall_ms;
  into.store_ms += p.store_ms;
  into.engine_ms += p.engine_ms;
  into.engine_calls += p.engine_calls;
  into.engine_tokens += p.engine_tokens;
  into.items += p.items;
  into.errors += p.errors;
  into.correct += p.correct;
  into.scored += p.scored;
  into.truncated += p.truncated;
  into.output_tokens += p.output_tokens;
  into.prompt_tokens += p.prompt_tokens;
  into.decode_ms += p.decode_ms;
  into.correct_by_item.insert(into.correct_by_item.end(), p.correct_by_item.begin(),
                              p.correct_by_item.end());
  if (into.first_error.empty()) into.first_error = p.first_error;
}

Result<Pass> run_clinbench(llama_model* model, llama_context* ctx, const std::vector<Item>& items,
                           const EvalSettings& settings, const std::string& store_dir) {
  std::filesystem::remove_all(store_dir);
  auto store = RunStore::open(store_dir);
  if (!store) return std::unexpected(store.error());
  auto backend = make_llama_backend(model, ctx);
  Pass p;
  const auto t0 = Clock::now();
  for (const auto& item : items) {
    ItemRecord r = evaluate_item(*backend, item, settings, "m", "mmlu");
    const auto ts = Clock::now();
    auto w = store->record_item(r);
    p.store_ms += ms_since(ts);
    if (!w) return std::unexpected(w.error());
    ++p.items;
    if (!r.error.empty()) {
      ++p.errors;
      if (p.first_error.empty()) p.first_error = r.error;
    }
    if (r.correct) {
      ++p.scored;
      p.correct += *r.correct ? 1 : 0;
    }
    p.truncated += r.truncated ? 1 : 0;
    for (auto t : r.output_tokens) p.output_tokens += t;
    p.prompt_tokens += r.prompt_tokens;
    p.decode_ms += r.decode_ms;
    p.correct_by_item.push_back(r.correct);
  }
  p.wall_ms = ms_since(t0);
  const BackendStats s = backend->stats();
  p.engine_ms = s.engine_ms;
  p.engine_calls = s.engine_calls;
  p.engine_tokens = s.tokens_evaluated;
  std::filesystem::remove_all(store_dir);
  return p;
}

struct Options {
  std::string work = "/tmp/clinbench-bench";
  std::string out = std::string(CLINBENCH_SOURCE_DIR) + "/bench/results/eval_bench.json";
  std::string dataset = "/work/shared/data/mmlu-medical/test";
  int reps = 3;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  size_t items = 200;
  size_t gen_items = 20;
  size_t chunk = 50;     // loglik items per paired measurement
  size_t gen_chunk = 5;  // generate items per paired measurement
  int max_tokens = 128;
  uint64_t seed = 0;
  std::vector<std::string> types = {"q8_0", "q4_0"};
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--work-dir")
      o.work = v;
    else if (a == "--out")
      o.out = v;
    else if (a == "--dataset")
      o.dataset = v;
    else if (a == "--reps")
      o.reps = std::stoi(v);
    else if (a == "--threads")
      o.threads = std::stoi(v);
    else if (a == "--items")
      o.items = std::stoul(v);
    else if (a == "--chunk")
      o.chunk = std::stoul(v);
    else if (a == "--gen-chunk")
      o.gen_chunk = std::stoul(v);
    else if (a == "--gen-items")
      o.gen_items = std::stoul(v);
    else if (a == "--max-tokens")
      o.max_tokens = std::stoi(v);
    else if (a == "--seed")
      o.seed = std::stoull(v);
    else if (a == "--types") {
      o.types.clear();
      std::stringstream ss(v);
      for (std::string t; std::getline(ss, t, ',');) o.types.push_back(t);
    } else {
      std::cerr << "eval_bench: unknown option " << a << "\n";
      return 2;
    }
  }
  std::filesystem::create_directories(o.work);
  std::filesystem::create_directories(std::filesystem::path(o.out).parent_path());
  ensure_llama_backend();

  // Items: a seeded subset of the MMLU-medical test split.
  auto ds = read_dataset(o.dataset);
  if (!ds) {
    std::cerr << ds.error().message << "\n";
    return 1;
  }
  const std::vector<Item> items = select_subset(ds->items, o.items, o.seed);
  const std::vector<Item> gen_items(
      items.begin(),
      items.begin() + static_cast<std::ptrdiff_t>(std::min(o.gen_items, items.size())));

  EvalSettings loglik_settings;
  loglik_settings.decoding.scoring = Scoring::kLoglik;
  EvalSettings gen_settings;
  gen_settings.decoding.scoring = Scoring::kGenerate;
  gen_settings.decoding.max_tokens = o.max_tokens;
  gen_settings.decoding.temperature = 0.0f;

  json result;
  result["benchmark"] = "eval_bench";
  result["clinbench_commit"] = CLINBENCH_GIT_COMMIT;
  result["llama_cpp_commit"] = CLINBENCH_LLAMA_COMMIT;
  result["date"] = utc_now();
  result["cpu"] = first_line_of("/proc/cpuinfo", "model name");
  result["cores"] = std::thread::hardware_concurrency();
  result["threads"] = o.threads;
  result["load_average_start"] = read_text("/proc/loadavg");
  result["reps"] = o.reps;
  result["dataset"] = {{"path", o.dataset},
                       {"items_read", ds->items.size()},
                       {"items", items.size()},
                       {"seed", o.seed},
                       {"generate_items", gen_items.size()}};
  result["clinbench_context"] = {
      {"n_ctx", 1024}, {"n_batch", 512}, {"n_seq_max", 8}, {"kv_unified", true}};
  result["notes"] = {
      {"loglik_time",
       "clinbench: wall time of the evaluate_item + RunStore::record_item loop (model loaded, "
       "one warm-up pass over 3 items before). llama-perplexity: the 'total time' it reports "
       "(llama_perf_context_print: from after model load and its warm-up run to the end, so "
       "reading and tokenizing the tasks is included); its process wall time and load time are "
       "recorded too."},
      {"prompts",
       "Same text for both: llama-perplexity's question is clinbench's rendered chat prompt "
       "(system + user turn with the question, lettered options and 'Answer with the correct "
       "option.', then the assistant header) plus 'Answer:', its answers the option texts, "
       "which it joins with one space as clinbench does. Differences: llama-perplexity "
       "tokenizes prompt+answer as one string and adds BOS itself (the template's leading BOS "
       "text is removed from its question), with special tokens not parsed; clinbench "
       "tokenizes the prompt (special tokens parsed) and each ' option' separately. "
       "llama-perplexity also decodes each answer's last token, which clinbench skips."},
      {"peer_prompt_eval_time",
       "llama-perplexity's reported 'prompt eval time' is not its time inside llama_decode: "
       "uprobes on llama_decode in its binary (llama.cpp 80fb11a, 5 tasks) measured 7.7 s inside "
       "llama_decode where it reported 3.7 s. It is recorded as reported_prompt_eval_ms and not "
       "compared with clinbench's engine_ms."},
      {"peer_batching",
       "llama-perplexity runs with its defaults for -np: 4 sequences (n_ctx 4 x 1024), so one "
       "4-option task per llama_decode; clinbench decodes the shared prompt, then all options "
       "together (2 decodes per item)."},
      {"generate",
       "clinbench tokens/s = sum of ItemRecord output tokens / sum of decode_ms (sampling and "
       "detokenizing included, after a prompt of ~prompt_tokens); llama-bench avg_ts for tg at "
       "depth 0 is the reference; the same test at the mean prompt depth is recorded too."},
      {"interleaving",
       "Each repetition runs the items in chunks (loglik: --chunk items, one llama-perplexity "
       "process per chunk; generate: --gen-chunk items against one llama-bench run), clinbench "
       "and the peer back to back on each chunk, the one going first alternating. Other work on "
       "this small machine changes its speed from minute to minute, and llama.cpp's threads, "
       "which wait for each other at every graph node, slow down far more than the CPU share "
       "they lose; pairing chunks keeps both sides under the same load. foreign_cpu_load is the "
       "share of all cores busy with other processes during each side's chunks. A chunk costs "
       "the peer its per-process fixed work after load (llama-perplexity allocates an n_ctx x "
       "n_vocab logits buffer, 0.5 GB), counted in its total time."},
      {"overhead",
       "1 - engine_ms / loop wall time, where engine_ms is BackendStats (time inside "
       "llama_decode) and the loop includes record_item into a RunStore in a temp dir."}};

  fmt::print("eval_bench: {} items ({} read from {}), seed {}, {} threads, {} reps, cpu {}\n",
             items.size(), ds->items.size(), o.dataset, o.seed, o.threads, o.reps,
             result["cpu"].get<std::string>());

  struct Row {
    std::string model, metric, unit;
    double ours, peer, ratio, paired;
    std::string aim;
    bool met;
  };
  std::vector<Row> rows;

  auto preset = [](const std::string& name) {
    for (const auto& p : synth_presets()) {
      if (p.name == name) return p.shape;
    }
    return SynthShape{};
  };

  for (const std::string& type : o.types) {
    const std::string path = o.work + "/llama-300m-" + type + ".gguf";
    if (!std::filesystem::exists(path)) {
      fmt::print("writing {} ...\n", path);
      SynthOptions so;
      so.shape = preset("llama-300m");
      so.type = type;
      if (auto r = write_synthetic_model(so, path); !r) {
        std::cerr << r.error().message << "\n";
        return 1;
      }
    }
    llama_model_params mp = llama_model_default_params();
    std::unique_ptr<llama_model, ModelDeleter> model(llama_model_load_from_file(path.c_str(), mp));
    if (!model) {
      std::cerr << "failed to load " << path << "\n";
      return 1;
    }
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 1024;
    cp.n_batch = 512;
    cp.n_ubatch = 512;
    cp.n_seq_max = 8;
    cp.kv_unified = true;
    cp.n_threads = o.threads;
    cp.n_threads_batch = o.threads;
    std::unique_ptr<llama_context, ContextDeleter> ctx(llama_init_from_model(model.get(), cp));
    if (!ctx) {
      std::cerr << "failed to create a context for " << path << "\n";
      return 1;
    }

    // The peer's task files, from clinbench's own prompts: one per chunk of items.
    // The prompts exactly as LlamaBackend renders and tokenizes them (model/llama_chat).
    const LlamaChat chat(model.get());
    const llama_token bos_token = llama_vocab_bos(chat.vocab());
    const std::string bos = bos_token >= 0 ? chat.piece(bos_token, true) : "";
    std::vector<McTask> tasks;
    for (const auto& item : items) {
      CapturingBackend cap;
      (void)evaluate_item(cap, item, loglik_settings, "m", "mmlu");
      auto rendered = chat.render(cap.last.messages);
      if (!rendered) {
        std::cerr << rendered.error().message << "\n";
        return 1;
      }
      std::string q = *rendered;
      if (!bos.empty() && q.rfind(bos, 0) == 0) q.erase(0, bos.size());
      McTask t;
      t.question = q + cap.last.prefix;
      for (const auto& [letter, text] : cap.last.continuations) {
        // clinbench's continuation is " " + option text; llama-perplexity adds that space.
        t.answers.push_back(text.starts_with(" ") ? text.substr(1) : text);
        t.labels.push_back(item.answer && *item.answer == letter ? 1 : 0);
      }
      tasks.push_back(std::move(t));
    }
    const auto ll_chunks = chunks_of(items.size(), o.chunk);
    std::vector<std::string> task_files;
    for (const auto& [b, e] : ll_chunks) {
      task_files.push_back(fmt::format("{}/mmlu-medical-{}-{}.bin", o.work, b, e));
      std::vector<McTask> part(tasks.begin() + static_cast<std::ptrdiff_t>(b),
                               tasks.begin() + static_cast<std::ptrdiff_t>(e));
      if (auto w = write_file_atomically(task_files.back(), encode_mc_tasks(part)); !w) {
        std::cerr << w.error().message << "\n";
        return 1;
      }
    }

    json mj;
    mj["file"] = path;
    mj["file_bytes"] = std::filesystem::file_size(path);
    mj["n_params"] = llama_model_n_params(model.get());
    mj["weight_type"] = type;

    // Warm-up: graphs and caches, not timed.
    {
      std::vector<Item> w(items.begin(),
                          items.begin() + std::min<std::ptrdiff_t>(3, std::ssize(items)));
      auto r = run_clinbench(model.get(), ctx.get(), w, loglik_settings, o.work + "/store-warmup");
      if (!r) {
        std::cerr << r.error().message << "\n";
        return 1;
      }
      EvalSettings g = gen_settings;
      g.decoding.max_tokens = 8;
      r = run_clinbench(model.get(), ctx.get(), {items.front()}, g, o.work + "/store-warmup");
      if (!r) {
        std::cerr << r.error().message << "\n";
        return 1;
      }
    }

    // The mean prompt length of the generate items: llama-bench also runs at this depth.
    int depth = 0;
    {
      int64_t sum = 0;
      for (const auto& item : gen_items) {
        CapturingBackend cap;
        (void)evaluate_item(cap, item, gen_settings, "m", "mmlu");
        auto rendered = chat.render(cap.last.messages);
        if (!rendered) {
          std::cerr << rendered.error().message << "\n";
          return 1;
        }
        sum += std::ssize(chat.tokenize_prompt(*rendered));
      }
      depth = static_cast<int>(sum / std::max<int64_t>(1, std::ssize(gen_items)));
    }
    const auto gen_chunks = chunks_of(gen_items.size(), o.gen_chunk);

    std::vector<double> ours_ips, ours_ips_eval, peer_ips, ll_over, ll_store, ll_pair;
    std::vector<double> ll_foreign_ours, ll_foreign_peer;
    std::vector<double> ours_tps, gen_over, gen_store, bench_tps, bench_tps_depth, tg_pair;
    std::vector<double> tg_foreign_ours, tg_foreign_peer;
    json ll_reps = json::array(), gen_reps = json::array();
    for (int rep = 0; rep < o.reps; ++rep) {
      // Loglik, chunk by chunk: clinbench and llama-perplexity on the same items, the one that
      // goes first alternating, so that both sides see the same machine load.
      Pass ours;
      PerplexityRun peer;
      for (size_t k = 0; k < ll_chunks.size(); ++k) {
        const auto [b, e] = ll_chunks[k];
        const std::vector<Item> part(items.begin() + static_cast<std::ptrdiff_t>(b),
                                     items.begin() + static_cast<std::ptrdiff_t>(e));
        Pass o_part;
        PerplexityRun p_part;
        double f_ours = 0, f_peer = 0;
        for (int side = 0; side < 2; ++side) {
          const CpuMark m0 = cpu_mark();
          if ((side == 0) == ((rep + static_cast<int>(k)) % 2 == 0)) {
            auto r = run_clinbench(model.get(), ctx.get(), part, loglik_settings,
                                   o.work + "/store-loglik");
            if (!r) {
              std::cerr << r.error().message << "\n";
              return 1;
            }
            o_part = *r;
            f_ours = foreign_share(m0, cpu_mark(), 0);
          } else {
            p_part = run_llama_perplexity(path, task_files[k], part.size(), o.threads,
                                          o.work + "/llama-perplexity.log");
            if (!p_part.ok) return 1;
            f_peer = foreign_share(m0, cpu_mark(), p_part.cpu_s);
          }
        }
        add(ours, o_part);
        add(peer, p_part);
        ll_foreign_ours.push_back(f_ours);
        ll_foreign_peer.push_back(f_peer);
        ll_pair.push_back(p_part.total_ms / o_part.wall_ms);
        fmt::print(
            "  {} loglik rep {} items {}-{}: clinbench {:.3f} items/s, llama-perplexity {:.3f} "
            "items/s (foreign CPU load {:.0f}% / {:.0f}%)\n",
            type, rep, b, e, part.size() / (o_part.wall_ms / 1000.0),
            part.size() / (p_part.total_ms / 1000.0), 100 * f_ours, 100 * f_peer);
        std::fflush(stdout);
      }
      const double n = static_cast<double>(items.size());
      ours_ips.push_back(n / (ours.wall_ms / 1000.0));
      ours_ips_eval.push_back(n / ((ours.wall_ms - ours.store_ms) / 1000.0));
      peer_ips.push_back(n / (peer.total_ms / 1000.0));
      ll_over.push_back(ours.overhead());
      ll_store.push_back(ours.store_ms / ours.wall_ms);
      int agree = 0, peer_correct = 0;
      for (size_t i = 0; i < items.size(); ++i) {
        const bool c = ours.correct_by_item[i].value_or(false);
        agree += (c == (peer.correct[i] == 1)) ? 1 : 0;
        peer_correct += peer.correct[i];
      }
      ll_reps.push_back({{"clinbench",
                          {{"wall_ms", ours.wall_ms},
                           {"store_ms", ours.store_ms},
                           {"engine_ms", ours.engine_ms},
                           {"engine_calls", ours.engine_calls},
                           {"tokens_evaluated", ours.engine_tokens},
                           {"prompt_tokens", ours.prompt_tokens},
                           {"errors", ours.errors},
                           {"first_error", ours.first_error},
                           {"accuracy", ours.scored ? 100.0 * ours.correct / ours.scored : -1}}},
                         {"llama_perplexity",
                          {{"total_ms", peer.total_ms},
                           {"wall_ms", peer.wall_ms},
                           {"load_ms", peer.load_ms},
                           {"reported_prompt_eval_ms", peer.prompt_eval_ms},
                           {"tokens_evaluated", peer.tokens},
                           {"accuracy", 100.0 * peer_correct / n}}},
                         {"same_correctness_items", agree}});
      fmt::print(
          "  {} loglik rep {}: clinbench {:.3f} items/s ({:.0f} ms, {:.0f} in llama_decode, {} "
          "tokens, {} errors, acc {:.1f}%) | llama-perplexity {:.3f} items/s ({:.0f} ms total, {} "
          "tokens, acc {:.1f}%) | same correctness {}/{}\n",
          type, rep, ours_ips.back(), ours.wall_ms, ours.engine_ms, ours.engine_tokens, ours.errors,
          ours.scored ? 100.0 * ours.correct / ours.scored : -1.0, peer_ips.back(), peer.total_ms,
          peer.tokens, 100.0 * peer_correct / n, agree, items.size());

      // Generation, chunk by chunk: clinbench's generate path on a few items, and llama-bench on
      // the same file and threads (its own 5 repetitions, at depth 0 and at the prompt depth).
      Pass gen;
      std::vector<double> lb0, lbd;
      json lb_all = json::array();
      for (size_t k = 0; k < gen_chunks.size(); ++k) {
        const auto [b, e] = gen_chunks[k];
        const std::vector<Item> part(gen_items.begin() + static_cast<std::ptrdiff_t>(b),
                                     gen_items.begin() + static_cast<std::ptrdiff_t>(e));
        Pass g_part;
        LlamaBenchRun lb;
        double f_ours = 0, f_peer = 0;
        for (int side = 0; side < 2; ++side) {
          const CpuMark m0 = cpu_mark();
          if ((side == 0) == ((rep + static_cast<int>(k)) % 2 == 0)) {
            auto r = run_clinbench(model.get(), ctx.get(), part, gen_settings,
                                   o.work + "/store-generate");
            if (!r) {
              std::cerr << r.error().message << "\n";
              return 1;
            }
            g_part = *r;
            f_ours = foreign_share(m0, cpu_mark(), 0);
          } else {
            lb = run_llama_bench(path, o.max_tokens, o.threads, {0, depth},
                                 o.work + "/llama-bench.log");
            if (!lb.ok) return 1;
            f_peer = foreign_share(m0, cpu_mark(), lb.cpu_s);
          }
        }
        add(gen, g_part);
        double ts0 = 0, tsd = 0;
        for (const auto& t : lb.results) {
          (t.value("n_depth", 0) == 0 ? ts0 : tsd) = t.value("avg_ts", 0.0);
          lb_all.push_back(t);
        }
        lb0.push_back(ts0);
        lbd.push_back(tsd);
        tg_foreign_ours.push_back(f_ours);
        tg_foreign_peer.push_back(f_peer);
        const double tps = g_part.output_tokens / (g_part.decode_ms / 1000.0);
        tg_pair.push_back(tps / ts0);
        if (rep == 0 && k == 0) {
          mj["llama_bench_build_commit"] = lb.results[0].value("build_commit", "");
          mj["llama_bench_cpu_info"] = lb.results[0].value("cpu_info", "");
        }
        fmt::print(
            "  {} generate rep {} items {}-{}: clinbench {:.2f} tok/s, llama-bench {:.2f} tok/s "
            "(depth {}: {:.2f}) (foreign CPU load {:.0f}% / {:.0f}%)\n",
            type, rep, b, e, tps, ts0, depth, tsd, 100 * f_ours, 100 * f_peer);
        std::fflush(stdout);
      }
      const double tps = gen.output_tokens / (gen.decode_ms / 1000.0);
      const double mean0 = std::accumulate(lb0.begin(), lb0.end(), 0.0) / lb0.size();
      const double meand = std::accumulate(lbd.begin(), lbd.end(), 0.0) / lbd.size();
      ours_tps.push_back(tps);
      gen_over.push_back(gen.overhead());
      gen_store.push_back(gen.store_ms / gen.wall_ms);
      bench_tps.push_back(mean0);
      bench_tps_depth.push_back(meand);
      gen_reps.push_back(
          {{"clinbench",
            {{"wall_ms", gen.wall_ms},
             {"store_ms", gen.store_ms},
             {"engine_ms", gen.engine_ms},
             {"engine_calls", gen.engine_calls},
             {"output_tokens", gen.output_tokens},
             {"decode_ms", gen.decode_ms},
             {"prompt_tokens", gen.prompt_tokens},
             {"truncated_items", gen.truncated},
             {"errors", gen.errors},
             {"first_error", gen.first_error},
             {"tokens_per_s", tps}}},
           {"llama_bench",
            {{"avg_ts_depth_0", mean0}, {"avg_ts_at_prompt_depth", meand}, {"results", lb_all}}}});
      fmt::print(
          "  {} generate rep {}: clinbench {:.2f} tok/s ({} tokens, {} items, {} truncated, {} "
          "errors) | llama-bench tg{} {:.2f} tok/s, at depth {} {:.2f} tok/s | overhead loglik "
          "{:.2f}% generate {:.2f}%\n",
          type, rep, tps, gen.output_tokens, gen.items, gen.truncated, gen.errors, o.max_tokens,
          mean0, depth, meand, 100 * ll_over.back(), 100 * gen_over.back());
      std::fflush(stdout);
    }

    const double ll_ratio = median(ours_ips) / median(peer_ips);
    const double tg_ratio = median(ours_tps) / median(bench_tps);
    mj["loglik"] = {
        {"clinbench_items_per_s", median(ours_ips)},
        {"clinbench_items_per_s_without_store", median(ours_ips_eval)},
        {"llama_perplexity_items_per_s", median(peer_ips)},
        {"ratio", ll_ratio},
        {"paired_chunk_ratio_median", median(ll_pair)},
        {"paired_chunk_ratios", ll_pair},
        {"chunk_items", o.chunk},
        {"foreign_cpu_load_median",
         {{"clinbench", median(ll_foreign_ours)}, {"llama_perplexity", median(ll_foreign_peer)}}},
        {"aim", ">= 1.0"},
        {"met", ll_ratio >= 1.0},
        {"reps", ll_reps}};
    mj["generate"] = {
        {"clinbench_tokens_per_s", median(ours_tps)},
        {"llama_bench_tokens_per_s", median(bench_tps)},
        {"llama_bench_tokens_per_s_at_prompt_depth", median(bench_tps_depth)},
        {"prompt_depth", depth},
        {"ratio", tg_ratio},
        {"ratio_at_prompt_depth", median(ours_tps) / median(bench_tps_depth)},
        {"paired_chunk_ratio_median", median(tg_pair)},
        {"paired_chunk_ratios", tg_pair},
        {"chunk_items", o.gen_chunk},
        {"foreign_cpu_load_median",
         {{"clinbench", median(tg_foreign_ours)}, {"llama_bench", median(tg_foreign_peer)}}},
        {"aim", ">= 0.95"},
        {"met", tg_ratio >= 0.95},
        {"reps", gen_reps}};
    mj["overhead"] = {{"loglik", median(ll_over)},
                      {"loglik_store_share", median(ll_store)},
                      {"generate", median(gen_over)},
                      {"generate_store_share", median(gen_store)},
                      {"aim", "< 0.03"},
                      {"met", median(ll_over) < 0.03 && median(gen_over) < 0.03}};
    result["models"][type] = mj;

    rows.push_back({type, "loglik", "items/s", median(ours_ips), median(peer_ips), ll_ratio,
                    median(ll_pair), ">= 1.00x llama-perplexity", ll_ratio >= 1.0});
    rows.push_back({type, "generate", "tok/s", median(ours_tps), median(bench_tps), tg_ratio,
                    median(tg_pair), ">= 0.95x llama-bench", tg_ratio >= 0.95});
    rows.push_back({type, "overhead loglik", "%", 100 * median(ll_over), NAN, NAN, NAN, "< 3%",
                    median(ll_over) < 0.03});
    rows.push_back({type, "overhead generate", "%", 100 * median(gen_over), NAN, NAN, NAN, "< 3%",
                    median(gen_over) < 0.03});
  }
  result["load_average_end"] = read_text("/proc/loadavg");

  fmt::print("\n{:<6} {:<18} {:>8} {:>11} {:>11} {:>7} {:>7}  {:<26} {}\n", "model", "metric",
             "unit", "clinbench", "peer", "ratio", "paired", "aim", "met");
  auto num = [](double v, const char* f) {
    return std::isnan(v) ? std::string("-") : fmt::format(fmt::runtime(f), v);
  };
  for (const auto& r : rows) {
    fmt::print("{:<6} {:<18} {:>8} {:>11.2f} {:>11} {:>7} {:>7}  {:<26} {}\n", r.model, r.metric,
               r.unit, r.ours, num(r.peer, "{:.2f}"), num(r.ratio, "{:.2f}x"),
               num(r.paired, "{:.2f}x"), r.aim, r.met ? "yes" : "NO");
  }
  fmt::print(
      "peers: loglik vs llama-perplexity --multiple-choice (its reported total time), generate "
      "vs llama-bench -p 0 -n {} (avg_ts); medians of {} reps; paired: median of the ratios of "
      "the interleaved chunks\n",
      o.max_tokens, o.reps);
  if (auto w = write_file_atomically(o.out, result.dump(2) + "\n"); !w) {
    std::cerr << w.error().message << "\n";
    return 1;
  }
  fmt::print("written to {}\n", o.out);
  return 0;
}
