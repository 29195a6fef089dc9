// Energy per item end to end: `clinbench run` on stories260K under a fake powercap tree whose
// package counter a thread of this test advances at a known power. Each item gets its share,
// the items' sum is inside the worker's and the run's totals, results.json and summary.md carry
// the totals; without a meter every energy is null and the run metadata says why.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kWatts = 50.0;

std::string write_config(const testing::ScratchDir& dir, const std::string& scoring) {
  const std::string path = dir.file("run.toml");
  testing::write_file(
      path, fmt::format(R"(out = "{}"
[[models]]
name = "stories"
path = "{}"
ctx = 1024
threads = 2

[[datasets]]
name = "val"
path = "{}/tests/data/datasets/curebench_valset.jsonl"
split = "val"

[decoding]
scoring = "{}"
max_tokens = 64
parallel = 4
constrained_answer = true
)",
                        dir.file("run"), testing::stories_model(), CLINBENCH_SOURCE_DIR, scoring));
  return path;
}

std::vector<json> samples(const std::string& path) {
  std::vector<json> out;
  std::istringstream in(testing::read_file(path));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

json attempt_energy(const std::string& run_dir) {
  const json manifest = json::parse(testing::read_file(run_dir + "/manifest.json"));
  for (const auto& entry : fs::directory_iterator(run_dir + "/attempts")) {
    const json log = json::parse(testing::read_file(entry.path().string()));
    const auto& a = log["attempts"][log["succeeded"].get<size_t>()];
    return a["energy"];
  }
  return nullptr;
}

void expect_energy_per_item(const std::vector<std::string>& extra_args, const char* scoring) {
  testing::ScratchDir dir;
  const testing::FakePowercap powercap(dir.file("powercap"), kWatts);
  std::vector<std::string> argv = {testing::clinbench_binary(), "run", "--config",
                                   write_config(dir, scoring)};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  const auto r = testing::run_command(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;

  const auto items = samples(dir.file("run/samples.jsonl"));
  ASSERT_EQ(items.size(), 6u);
  double sum = 0;
  for (const auto& s : items) {
    ASSERT_TRUE(s["energy_j"].is_number()) << s.dump();
    const double j = s["energy_j"].get<double>();
    EXPECT_GT(j, 0.0) << s["item_id"];
    // (No bound from the item's own time: on a loaded machine this test's writer thread lags
    // and then catches up, so the fake power comes in bursts. ledger_test.cpp checks the rule
    // itself on exact power.)
    sum += j;
  }
  // The worker gave the items what it measured during their decodes, and no more than it
  // measured over the whole evaluation.
  const json a = attempt_energy(dir.file("run"));
  ASSERT_TRUE(a.is_object()) << a;
  ASSERT_EQ(a["meters"].size(), 1u) << a;
  EXPECT_EQ(a["meters"][0]["name"], "package-0");
  EXPECT_NEAR(a["attributed_j"].get<double>(), sum, 1e-6 * sum);
  EXPECT_LE(sum, a["energy_j"].get<double>() * 1.001 + 0.05) << a;
  EXPECT_GT(a["sampler"]["readings"].get<int>(), 1);
  // The run's total, loading included, holds the evaluation's.
  const json manifest = json::parse(testing::read_file(dir.file("run/manifest.json")));
  const json& run_energy = manifest["run"]["energy"];
  ASSERT_TRUE(run_energy["energy_j"].is_number()) << run_energy;
  EXPECT_GE(run_energy["energy_j"].get<double>() * 1.001 + 0.05, a["energy_j"].get<double>());

  // results.json: the totals and the ratios.
  const json results = json::parse(testing::read_file(dir.file("run/results.json")));
  ASSERT_EQ(results["energy"].size(), 1u) << results["energy"];
  const json& e = results["energy"][0];
  EXPECT_EQ(e["energy_items"], 6);
  EXPECT_NEAR(e["energy_j"].get<double>(), sum, 1e-6 * sum);
  EXPECT_NEAR(e["joules_per_output_token"].get<double>() * e["output_tokens"].get<double>(), sum,
              1e-6 * sum);
  if (e["correct"].get<int>() > 0) {
    EXPECT_NEAR(e["joules_per_correct"].get<double>() * e["correct"].get<double>(), sum,
                1e-6 * sum);
  }
  EXPECT_NE(testing::read_file(dir.file("run/summary.md")).find("## Energy"), std::string::npos);
}

TEST(RunEnergy, EachItemGetsItsShareInAWorker) { expect_energy_per_item({}, "generate"); }

TEST(RunEnergy, EachItemGetsItsShareInProcess) {
  expect_energy_per_item({"--isolation", "none"}, "generate");
}

TEST(RunEnergy, LoglikItemsAreMeasuredAlone) {
  expect_energy_per_item({"--isolation", "none"}, "loglik");
}

TEST(RunEnergy, WithoutAMeterEveryEnergyIsNullAndTheRunSaysWhy) {
  testing::ScratchDir dir;
  // A root without zones: no RAPL meter. (A machine with an NVIDIA driver still has its GPU
  // meters: then the items are measured by those alone.)
  const testing::FakePowercap none(dir.file("empty-powercap"), std::nullopt);
  const auto r = testing::run_command(
      {testing::clinbench_binary(), "run", "--config", write_config(dir, "generate")});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const json manifest = json::parse(testing::read_file(dir.file("run/manifest.json")));
  const json& e = manifest["run"]["energy"];
  bool rapl_reason = false;
  for (const auto& u : e["unavailable"]) rapl_reason = rapl_reason || u["source"] == "rapl";
  EXPECT_TRUE(rapl_reason) << e;
  for (const auto& m : e["meters"]) EXPECT_EQ(m["source"], "nvml") << e;
  const bool gpu_meter = !e["meters"].empty();
  for (const auto& s : samples(dir.file("run/samples.jsonl"))) {
    EXPECT_EQ(s["energy_j"].is_null(), !gpu_meter) << s.dump();
  }
  if (gpu_meter) return;  // the rest is about a machine without any meter
  EXPECT_TRUE(e["energy_j"].is_null()) << e;
  EXPECT_TRUE(e["sampler"].is_null()) << e;
  const json results = json::parse(testing::read_file(dir.file("run/results.json")));
  EXPECT_TRUE(results["energy"][0]["energy_j"].is_null());
  EXPECT_EQ(results["energy"][0]["energy_items"], 0);
  EXPECT_NE(testing::read_file(dir.file("run/summary.md")).find("Not measured"), std::string::npos);
}

}  // namespace
}  // namespace clinbench
