// `clinbench report` end to end: a real run of stories260K (two loading strategies of the same
// file, a labeled and an unlabeled split, a reply and a dataset question carrying markup, and the
// fidelity.json of q8 and q4 against the file written into it), its page opened in headless
// Chromium by web/test/dashboard_test.mjs (playwright-core), its static figures, and `report
// --compare` of two real runs. Needs what scripts/setup.sh installs: Node.js, Debian's chromium,
// and web/node_modules (npm ci).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "clinbench/store.h"
#include "test_util.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string data(const std::string& name) {
  return std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/report/" + name;
}

// Screenshots and pages kept after the test, in the build directory.
fs::path artifacts_dir() {
  const fs::path dir = fs::path(testing::clinbench_binary()).parent_path() / "test-artifacts";
  fs::create_directories(dir);
  return dir;
}

// A config of the given models (name, strategy) of stories260K on the labeled val and unlabeled
// test files.
std::string write_config(const testing::ScratchDir& dir, const std::string& name,
                         const std::vector<std::pair<std::string, std::string>>& models,
                         int max_tokens) {
  std::string text = fmt::format("out = \"{}\"\n", dir.file(name));
  for (const auto& [model, strategy] : models) {
    text += fmt::format(
        "[[models]]\nname = \"{}\"\npath = \"{}\"\nstrategy = \"{}\"\nctx = 512\nthreads = 2\n\n",
        model, testing::stories_model(), strategy);
  }
  text += fmt::format(R"([[datasets]]
name = "val"
path = "{}"
split = "val"

[[datasets]]
name = "test"
path = "{}"
split = "test"

[decoding]
scoring = "generate"
max_tokens = {}
constrained_answer = true
)",
                      data("labeled_val.jsonl"), data("unlabeled_test.jsonl"), max_tokens);
  const std::string path = dir.file(name + ".toml");
  testing::write_file(path, text);
  return path;
}

// A reply carrying markup, stored through the RunStore API before the run, which resumes past
// it: the page must show it as text and run nothing.
void store_markup_reply(const std::string& run_dir) {
  auto store = RunStore::open(run_dir);
  ASSERT_TRUE(store) << store.error().message;
  ItemRecord r;
  r.model = "stories-native";
  r.dataset = "val";
  r.item_id = "rv-001";
  r.split = "val";
  r.question_type = "multi_choice";
  r.scoring = "generate";
  r.prompt_tokens = 60;
  r.output_tokens = {12};
  r.reasoning_chars = 90;
  r.reasoning_tokens = 12;
  r.ttft_ms = 2.0;
  r.prefill_ms = 3.0;
  r.decode_ms = 10.0;
  r.tokens_per_s = 1200.0;
  r.energy_j = 0.75;  // the run measures the others under a fake powercap tree
  const std::string reply =
      "Answer: B</pre><script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned=2\">";
  r.choice = "B";
  r.prediction = reply;
  r.correct_answer = "A";
  r.correct = false;
  r.extraction_rule = "answer_statement";
  r.trace = json::array({{{"role", "user"}, {"content", "Which drug reverses opioids?"}},
                         {{"role", "assistant"}, {"content", reply}}})
                .dump();
  ASSERT_TRUE(store->record_item(r)) << "record";
}

testing::CommandResult run_page_checks(const std::string& page, const std::string& results,
                                       const std::string& screenshot,
                                       const std::string& fidelity = "") {
  std::vector<std::string> argv = {
      "/usr/bin/env", "node", std::string(CLINBENCH_SOURCE_DIR) + "/web/test/dashboard_test.mjs",
      "--page", page};
  if (!results.empty()) argv.insert(argv.end(), {"--results", results});
  if (!fidelity.empty()) argv.insert(argv.end(), {"--fidelity", fidelity});
  if (!screenshot.empty()) argv.insert(argv.end(), {"--screenshot", screenshot});
  return testing::run_command(argv);
}

TEST(ReportBrowserEndToEnd, RealRunDashboardFiguresAndComparison) {
  testing::ScratchDir dir;
  // Every item measured: Figure 2 offers its energy axis and Figure 4 draws energy bars.
  const testing::FakePowercap powercap(dir.file("powercap"), 40.0);
  const std::string run_a = dir.file("run-a");
  store_markup_reply(run_a);
  const auto cfg_a =
      write_config(dir, "run-a", {{"stories-native", "native"}, {"stories-q8", "quantize:q8"}}, 24);
  auto ra = testing::run_command({testing::clinbench_binary(), "run", "--config", cfg_a});
  ASSERT_EQ(ra.exit_code, 0) << ra.err << ra.out;
  EXPECT_NE(ra.out.find("no labels"), std::string::npos) << ra.out;

  // Quantization fidelity of the same file, written into the run directory: figure 5.
  auto fid =
      testing::run_command({testing::clinbench_binary(), "fidelity", "--reference",
                            testing::stories_model(), "--candidate", "quantize:q8", "--candidate",
                            "quantize:q4", "--dataset", data("labeled_val.jsonl"), "--trace-tokens",
                            "8", "--ctx", "512", "--threads", "1", "--out", run_a});
  ASSERT_EQ(fid.exit_code, 0) << fid.err << fid.out;

  // The report, with its static figures (node and chromium are installed by setup.sh).
  auto rep = testing::run_command({testing::clinbench_binary(), "report", run_a});
  ASSERT_EQ(rep.exit_code, 0) << rep.err << rep.out;
  EXPECT_EQ(rep.err.find("not written"), std::string::npos) << rep.err;
  const std::string page = run_a + "/dashboard.html";
  ASSERT_TRUE(fs::exists(page)) << rep.out;
  for (const char* f : {"figure1", "figure2", "figure3", "figure4", "figure5"}) {
    const std::string svg = testing::read_file(run_a + "/figures/" + f + ".svg");
    EXPECT_EQ(svg.rfind("<svg", 0), 0u) << f;
    EXPECT_NE(svg.find("role-mark"), std::string::npos) << f;
    const std::string png = testing::read_file(run_a + "/figures/" + f + ".png");
    ASSERT_GT(png.size(), 1000u) << f;
    EXPECT_EQ(png.substr(1, 3), "PNG") << f;
  }
  // The markup is text in the SVG too.
  EXPECT_EQ(testing::read_file(run_a + "/figures/figure1.svg").find("<script"), std::string::npos);
  fs::copy_file(page, artifacts_dir() / "report-dashboard.html",
                fs::copy_options::overwrite_existing);

  const std::string shot = (artifacts_dir() / "report-figure1.png").string();
  auto checks = run_page_checks(page, run_a + "/results.json", shot, run_a + "/fidelity.json");
  EXPECT_EQ(checks.exit_code, 0) << checks.out << checks.err;
  EXPECT_NE(checks.out.find("all checks passed"), std::string::npos) << checks.out << checks.err;
  EXPECT_TRUE(fs::exists(shot));

  // A second real run (the native model with a shorter budget), compared with the first on the
  // model both runs have.
  const auto cfg_b = write_config(dir, "run-b", {{"stories-native", "native"}}, 12);
  auto rb = testing::run_command({testing::clinbench_binary(), "run", "--config", cfg_b});
  ASSERT_EQ(rb.exit_code, 0) << rb.err << rb.out;
  const std::string cmp = dir.file("compare.html");
  auto rc = testing::run_command(
      {testing::clinbench_binary(), "report", "--compare", run_a, dir.file("run-b"), "-o", cmp});
  ASSERT_EQ(rc.exit_code, 0) << rc.err << rc.out;
  auto cmp_checks = run_page_checks(cmp, "", (artifacts_dir() / "report-compare.png").string());
  EXPECT_EQ(cmp_checks.exit_code, 0) << cmp_checks.out << cmp_checks.err;

  // A run still going (this process holds run-b as a running `clinbench run` would): reported
  // as far as it got, with a notice under the title.
  {
    auto hold = RunStore::open(dir.file("run-b"));
    ASSERT_TRUE(hold) << hold.error().message;
    const std::string live = dir.file("live.html");
    auto rl = testing::run_command(
        {testing::clinbench_binary(), "report", dir.file("run-b"), "-o", live});
    ASSERT_EQ(rl.exit_code, 0) << rl.err << rl.out;
    auto live_checks = run_page_checks(live, dir.file("run-b") + "/results.json", "");
    EXPECT_EQ(live_checks.exit_code, 0) << live_checks.out << live_checks.err;
    EXPECT_NE(live_checks.out.find("ok   notices shown under the title: 1"), std::string::npos)
        << live_checks.out;
    EXPECT_NE(testing::read_file(live).find("still going"), std::string::npos);
  }

  // Usage errors: neither or both of RUN_DIR and --compare; a directory that is no run.
  EXPECT_EQ(testing::run_command({testing::clinbench_binary(), "report"}).exit_code, 2);
  auto bad = testing::run_command({testing::clinbench_binary(), "report", dir.file("nothing")});
  EXPECT_EQ(bad.exit_code, 3) << bad.err;
  EXPECT_NE(bad.err.find("no run.db"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace clinbench
