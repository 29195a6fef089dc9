// Report benchmark (issue 4: "10 models, long names and 5,000 items stay readable and the page
// opens in under 2 s"). Writes a synthetic run through the RunStore API (no model: --models
// models with long names, --items items each, realistic traces), then measures in one run:
// building the page in C++ (report_data + render_report_html), the page's size, and the time
// headless Chromium takes from navigation start to every panel drawn (web/bench/open_time.mjs,
// playwright-core). The peer, measured the same way in the same run, is a one-model run of 30
// items: the ratio says what the scale costs over the charting library's own start-up.
//
//   report_bench [--models N] [--items N] [--reps N] [--work-dir DIR] [--out FILE.json]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "clinbench/atomic_file.h"
#include "clinbench/report.h"
#include "clinbench/store.h"

using namespace clinbench;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string long_name(int m) {
  return fmt::format(
      "hospital-finetuned-meta-llama-3.1-8b-instruct-clinical-notes-{}-q4_k_m-"
      "imatrix-calibrated-on-discharge-summaries",
      m);
}

// A run of `models` models × `items` items: a labeled val split (60%) and an unlabeled test split,
// the three question types, traces of about 1.5 KB.
void write_synthetic_run(const fs::path& dir, int models, int items) {
  fs::remove_all(dir);
  auto store = RunStore::open(dir);
  if (!store) {
    std::fprintf(stderr, "report_bench: %s\n", store.error().message.c_str());
    std::exit(1);
  }
  const char* types[] = {"multi_choice", "open_ended_multi_choice", "open_ended"};
  const std::string reasoning(1400, 'r');
  for (int m = 0; m < models; ++m) {
    const std::string name = models == 1 ? "stories" : long_name(m);
    const json log = {
        {"format", "clinbench.attempt_log/1"},
        {"succeeded", m % 3 == 0 ? 1 : 0},
        {"attempts", json::array({{{"strategy", "native"},
                                   {"outcome", m % 3 == 0 ? "skipped" : "ok"},
                                   {"reason", m % 3 == 0 ? "plan exceeds budget" : ""},
                                   {"peak_rss_bytes", 5e9 + m * 1e8},
                                   {"init_ms", 900 + m}},
                                  {{"strategy", "quantize:q4"},
                                   {"outcome", "ok"},
                                   {"reason", ""},
                                   {"peak_rss_bytes", 3e9},
                                   {"init_ms", 4000 + m}}})}};
    if (auto ok =
            store->put_model({name, "/models/" + name + ".gguf", "", "native", log.dump(), ""});
        !ok) {
      std::fprintf(stderr, "report_bench: %s\n", ok.error().message.c_str());
      std::exit(1);
    }
    for (int i = 0; i < items; ++i) {
      ItemRecord r;
      r.model = name;
      r.dataset = "cure";
      r.item_id = fmt::format("item-{:05d}", i);
      r.split = i < items * 6 / 10 ? "val" : "test";
      r.question_type = types[i % 3];
      r.scoring = "generate";
      r.prompt_tokens = 180 + i % 50;
      r.output_tokens = {200 + (i * 37 + m * 11) % 500};
      r.reasoning_tokens = r.output_tokens[0];
      r.reasoning_chars = 4 * r.reasoning_tokens;
      r.ttft_ms = 40;
      r.prefill_ms = 35;
      r.decode_ms = 900;
      r.tokens_per_s = 30;
      r.choice = r.question_type == std::string("open_ended") ? "NOTAVALUE" : "B";
      r.prediction = "B";
      if (r.split == "val") {
        r.correct_answer = (i + m) % 3 == 0 ? "A" : "B";
        if (r.question_type != std::string("open_ended")) r.correct = r.choice == r.correct_answer;
      }
      r.extraction_rule = "grammar";
      r.trace = json::array({{{"role", "user"}, {"content", "Question " + r.item_id}},
                             {{"role", "assistant"}, {"content", reasoning}}})
                    .dump();
      if (auto ok = store->record_item(r); !ok) {
        std::fprintf(stderr, "report_bench: %s\n", ok.error().message.c_str());
        std::exit(1);
      }
    }
  }
}

struct Built {
  double build_ms = 0;
  std::uintmax_t bytes = 0;
};

Built build_page(const fs::path& run, const fs::path& page) {
  const auto t0 = std::chrono::steady_clock::now();
  auto data = report_data(run);
  if (!data) {
    std::fprintf(stderr, "report_bench: %s\n", data.error().message.c_str());
    std::exit(1);
  }
  const std::string html = render_report_html(*data);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (auto w = write_file_atomically(page, html); !w) {
    std::fprintf(stderr, "report_bench: %s\n", w.error().message.c_str());
    std::exit(1);
  }
  return {ms, fs::file_size(page)};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int models = 10, items = 500, reps = 3;
  fs::path work = fs::temp_directory_path() / "clinbench-report-bench";
  std::string out;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--models")
      models = std::atoi(argv[i + 1]);
    else if (a == "--items")
      items = std::atoi(argv[i + 1]);
    else if (a == "--reps")
      reps = std::atoi(argv[i + 1]);
    else if (a == "--work-dir")
      work = argv[i + 1];
    else if (a == "--out")
      out = argv[i + 1];
    else {
      std::fprintf(stderr, "report_bench: unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  fs::create_directories(work);
  write_synthetic_run(work / "large", models, items);
  write_synthetic_run(work / "small", 1, 30);
  const Built large = build_page(work / "large", work / "large.html");
  const Built small = build_page(work / "small", work / "small.html");

  const std::string cmd =
      fmt::format("node '{}/web/bench/open_time.mjs' {} '{}' '{}'", CLINBENCH_SOURCE_DIR, reps,
                  (work / "large.html").string(), (work / "small.html").string());
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string text;
  char buf[4096];
  while (p && std::fgets(buf, sizeof buf, p)) text += buf;
  const int rc = p ? ::pclose(p) : -1;
  const json times = json::parse(text, nullptr, false);
  if (rc != 0 || times.is_discarded()) {
    std::fprintf(stderr, "report_bench: %s failed: %s\n", cmd.c_str(), text.c_str());
    return 1;
  }
  auto med = [&](const fs::path& page, const char* key) {
    std::vector<double> v;
    for (const auto& t : times[page.string()]) v.push_back(t[key].get<double>());
    return median(v);
  };
  const double large_ready = med(work / "large.html", "ready_ms");
  const double small_ready = med(work / "small.html", "ready_ms");
  const double large_wall = med(work / "large.html", "wall_ms");
  const double small_wall = med(work / "small.html", "wall_ms");
  std::cout << fmt::format(
      "report_bench: {} models x {} items ({} records) against 1 model x 30 items, {} reps, "
      "median\n",
      models, items, models * items, reps);
  std::cout << fmt::format("{:<34}{:>14}{:>14}{:>10}\n", "", "large", "peer (small)", "ratio");
  std::cout << fmt::format("{:<34}{:>14.1f}{:>14.1f}{:>10.2f}\n", "C++ report_data + HTML (ms)",
                           large.build_ms, small.build_ms, large.build_ms / small.build_ms);
  std::cout << fmt::format("{:<34}{:>14.2f}{:>14.2f}{:>10.2f}\n", "page size (MiB)",
                           large.bytes / 1048576.0, small.bytes / 1048576.0,
                           double(large.bytes) / small.bytes);
  std::cout << fmt::format("{:<34}{:>14.0f}{:>14.0f}{:>10.2f}\n", "open: navigation to drawn (ms)",
                           large_ready, small_ready, large_ready / small_ready);
  std::cout << fmt::format("{:<34}{:>14.0f}{:>14.0f}{:>10.2f}\n", "open: goto to drawn, wall (ms)",
                           large_wall, small_wall, large_wall / small_wall);
  std::cout << fmt::format("target: under 2000 ms to open: {}\n",
                           large_ready < 2000 ? "met" : "NOT met");
  if (!out.empty()) {
    const std::string summary = json{{"models", models},
                                     {"items_per_model", items},
                                     {"reps", reps},
                                     {"large",
                                      {{"build_ms", large.build_ms},
                                       {"bytes", large.bytes},
                                       {"ready_ms", large_ready},
                                       {"wall_ms", large_wall}}},
                                     {"small",
                                      {{"build_ms", small.build_ms},
                                       {"bytes", small.bytes},
                                       {"ready_ms", small_ready},
                                       {"wall_ms", small_wall}}},
                                     {"times", times}}
                                    .dump(2) +
                                "\n";
    if (auto w = write_file_atomically(out, summary); !w) {
      std::fprintf(stderr, "report_bench: %s\n", w.error().message.c_str());
      return 1;
    }
  }
  return 0;
}
