// `clinbench run` with LoRA adapters on the real stories260K model: the same base with and
// without an adapter in one run (two [[models]] entries), and --lora on the short form.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "clinbench/store.h"
#include "test_util.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;

std::string data(const std::string& name) {
  return std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/datasets/" + name;
}

// An adapter for stories260K written by `clinbench synth --lora-for`.
std::string write_adapter(const testing::ScratchDir& dir, const std::string& name) {
  fs::create_directories(fs::path(dir.file(name)).parent_path());
  const auto r =
      testing::run_command({testing::clinbench_binary(), "synth", "--lora-for",
                            testing::stories_model(), "--rank", "4", "-o", dir.file(name)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return dir.file(name);
}

// samples.jsonl's records counted by model.
std::map<std::string, int> samples_per_model(const std::string& path) {
  std::map<std::string, int> out;
  std::istringstream in(testing::read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) ++out[nlohmann::json::parse(line)["model"].get<std::string>()];
  }
  return out;
}

// The attempt log the run wrote for `model`.
nlohmann::json attempt_log(const std::string& run_dir, const std::string& model) {
  for (const auto& e : fs::directory_iterator(RunPaths::attempts(run_dir))) {
    if (e.path().filename().string().rfind(model + ".", 0) == 0) {
      return nlohmann::json::parse(testing::read_file(e.path().string()));
    }
  }
  ADD_FAILURE() << "no attempt log for " << model << " in " << run_dir;
  return {};
}

TEST(RunAdapters, BaseAndBasePlusAdapterInOneRun) {
  testing::ScratchDir dir;
  write_adapter(dir, "lora/a.gguf");
  const std::string cfg = dir.file("run.toml");
  // The adapter's path is relative to the config file.
  testing::write_file(cfg, fmt::format(R"(out = "{}"
[[models]]
name = "base"
path = "{}"
ctx = 512
threads = 2

[[models]]
name = "tuned"
path = "{}"
ctx = 512
threads = 2
adapters = [{{ path = "lora/a.gguf", scale = 0.5 }}]

[[datasets]]
name = "val"
path = "{}"
split = "val"
limit = 3

[decoding]
scoring = "loglik"
)",
                                       dir.file("run"), testing::stories_model(),
                                       testing::stories_model(), data("curebench_valset.jsonl")));
  const auto r = testing::run_command({testing::clinbench_binary(), "run", "--config", cfg});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const auto counts = samples_per_model(dir.file("run/samples.jsonl"));
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts.count("base") ? counts.at("base") : 0, 3);
  EXPECT_EQ(counts.count("tuned") ? counts.at("tuned") : 0, 3);

  const auto base_log = attempt_log(dir.file("run"), "base");
  EXPECT_TRUE(base_log["adapters"].empty()) << base_log["adapters"].dump();
  const auto tuned_log = attempt_log(dir.file("run"), "tuned");
  ASSERT_EQ(tuned_log["adapters"].size(), 1u) << tuned_log.dump();
  EXPECT_EQ(tuned_log["adapters"][0]["path"], dir.file("lora/a.gguf"));
  EXPECT_EQ(tuned_log["adapters"][0]["scale"], 0.5);
  EXPECT_EQ(tuned_log["adapters"][0]["rank"], 4);
}

TEST(RunAdapters, LoraFlagOnTheShortFormAndOnLoad) {
  testing::ScratchDir dir;
  const std::string adapter = write_adapter(dir, "a.gguf");
  const auto r = testing::run_command(
      {testing::clinbench_binary(), "run", "--model", testing::stories_model(), "--lora",
       adapter + ":2", "--dataset", data("curebench_valset.jsonl"), "--limit", "2", "--scoring",
       "loglik", "--ctx", "512", "--out", dir.file("run")});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const auto log = attempt_log(dir.file("run"), "stories260K");
  ASSERT_EQ(log["adapters"].size(), 1u) << log.dump();
  EXPECT_EQ(log["adapters"][0]["path"], adapter);
  EXPECT_EQ(log["adapters"][0]["scale"], 2.0);

  // --lora takes one value: the model after it stays the positional.
  const auto l = testing::run_command({testing::clinbench_binary(), "load", "--lora", adapter,
                                       testing::stories_model(), "--ctx", "256", "--isolation",
                                       "none", "--json"});
  ASSERT_EQ(l.exit_code, 0) << l.err;
  const auto j = nlohmann::json::parse(l.out);
  ASSERT_EQ(j["adapters"].size(), 1u);
  EXPECT_EQ(j["adapters"][0]["path"], adapter);
  // A missing adapter file fails before anything loads, naming the file.
  const auto bad =
      testing::run_command({testing::clinbench_binary(), "load", testing::stories_model(), "--lora",
                            dir.file("missing.gguf"), "--isolation", "none"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE((bad.err + bad.out).find("missing.gguf"), std::string::npos) << bad.err << bad.out;
}

}  // namespace
}  // namespace clinbench
