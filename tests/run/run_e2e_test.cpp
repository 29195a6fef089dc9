// `clinbench run` end to end on the real stories260K model: all three question types, both
// scoring methods, a labeled and an unlabeled split, resume after SIGKILL at several points,
// the run-directory lock, and bad dataset rows.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "clinbench/store.h"
#include "test_util.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;

std::string data(const std::string& name) {
  return std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/datasets/" + name;
}

// A config with two datasets (a labeled val split and an unlabeled test split).
std::string write_config(const testing::ScratchDir& dir, const std::string& scoring,
                         int max_tokens = 48) {
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
path = "{}"
split = "val"

[[datasets]]
name = "test"
path = "{}"
split = "test"

[decoding]
scoring = "{}"
max_tokens = {}
constrained_answer = true
)",
                        dir.file("run"), testing::stories_model(), data("curebench_valset.jsonl"),
                        data("curebench_testset.jsonl"), scoring, max_tokens));
  return path;
}

int64_t count_items(const std::string& db) {
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(h);
    return -1;
  }
  sqlite3_busy_timeout(h, 1000);
  sqlite3_stmt* st = nullptr;
  int64_t n = -1;
  if (sqlite3_prepare_v2(h, "SELECT count(*) FROM items", -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    n = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return n;
}

std::vector<nlohmann::json> read_samples(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(testing::read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

// samples.jsonl by dataset and item: records are stored as items finish, which with several in
// flight is not the dataset's order.
std::vector<nlohmann::json> samples_by_item(const std::string& path) {
  auto out = read_samples(path);
  std::sort(out.begin(), out.end(), [](const nlohmann::json& x, const nlohmann::json& y) {
    return std::make_pair(x["dataset"].get<std::string>(), x["item_id"].get<std::string>()) <
           std::make_pair(y["dataset"].get<std::string>(), y["item_id"].get<std::string>());
  });
  return out;
}

TEST(RunEndToEnd, GenerateCoversEveryQuestionTypeAndBothSplits) {
  testing::ScratchDir dir;
  const auto cfg = write_config(dir, "generate");
  auto r = testing::run_command({testing::clinbench_binary(), "run", "--config", cfg});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const auto samples = read_samples(dir.file("run/samples.jsonl"));
  ASSERT_EQ(samples.size(), 6u + 4u);
  std::set<std::string> types;
  for (const auto& s : samples) {
    types.insert(s["question_type"].get<std::string>());
    EXPECT_EQ(s["scoring"], "generate");
    EXPECT_EQ(s["error"], "");
    EXPECT_GT(s["prompt_tokens"].get<int64_t>(), 0);
    const auto trace = nlohmann::json::parse(s["trace"].get<std::string>());
    ASSERT_TRUE(trace.is_array());
    EXPECT_EQ(trace.back()["role"], "assistant");
    if (s["question_type"] == "open_ended") {
      EXPECT_EQ(s["choice"], "NOTAVALUE");
      EXPECT_TRUE(s["correct"].is_null());
    } else {
      // The constrained answer always names an option.
      EXPECT_EQ(s["extraction_rule"], "grammar");
      EXPECT_EQ(s["choice"].get<std::string>().size(), 1u);
    }
    if (s["question_type"] == "open_ended_multi_choice") {
      EXPECT_EQ(s["output_tokens"].size(), 2u);  // two turns
      EXPECT_EQ(trace.size(), 5u);               // system, user, assistant, user, assistant
    }
    if (s["split"] == "test") {
      EXPECT_TRUE(s["correct"].is_null()) << "unlabeled items are never scored";
      EXPECT_TRUE(s["correct_answer"].is_null());
    }
    if (s["split"] == "val" && s["question_type"] != "open_ended") {
      EXPECT_FALSE(s["correct"].is_null());
    }
  }
  EXPECT_EQ(types.size(), 3u);
  const auto results = nlohmann::json::parse(testing::read_file(dir.file("run/results.json")));
  EXPECT_TRUE(results.contains("accuracy"));
  EXPECT_TRUE(fs::exists(dir.file("run/summary.md")));
  EXPECT_TRUE(fs::exists(dir.file("run/summary.csv")));
  EXPECT_TRUE(fs::exists(dir.file("run/manifest.json")));
  // No generalization gap: the test split has no labels.
  EXPECT_TRUE(results["generalization_gap"].empty()) << results["generalization_gap"].dump();
  EXPECT_NE(r.out.find("no labels"), std::string::npos) << r.out;

  // The same command again resumes: nothing left to do.
  auto again = testing::run_command({testing::clinbench_binary(), "run", "--config", cfg});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("0 item(s) evaluated, 10 resumed"), std::string::npos) << again.out;
  EXPECT_EQ(count_items(dir.file("run/run.db")), 10);
}

TEST(RunEndToEnd, LoglikScoresLetteredItemsWithoutGeneration) {
  testing::ScratchDir dir;
  const auto cfg = write_config(dir, "loglik");
  auto r = testing::run_command({testing::clinbench_binary(), "run", "--config", cfg});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  for (const auto& s : read_samples(dir.file("run/samples.jsonl"))) {
    if (s["question_type"] == "open_ended") {
      EXPECT_EQ(s["scoring"], "generate");
      continue;
    }
    EXPECT_EQ(s["scoring"], "loglik");
    if (s["question_type"] == "open_ended_multi_choice") {
      // Two stages: the first turn generated without the options, then the letters scored.
      EXPECT_EQ(s["output_tokens"].size(), 1u) << s.dump();
      const auto trace = nlohmann::json::parse(s["trace"].get<std::string>());
      ASSERT_GE(trace.size(), 4u);
      EXPECT_EQ(trace[trace.size() - 2]["role"], "assistant");
      EXPECT_EQ(trace.back()["content"].get<std::string>().rfind("Options:", 0), 0u);
    } else {
      EXPECT_TRUE(s["output_tokens"].empty());
    }
    const auto& ll = s["extra"]["loglik"];
    ASSERT_TRUE(ll.is_object());
    EXPECT_EQ(ll["raw"].size(), ll["normalized"].size());
    // The choice is the option with the best normalized log-likelihood.
    std::string best;
    double best_v = -1e300;
    for (const auto& [k, v] : ll["normalized"].items()) {
      EXPECT_LE(v.get<double>(), 0.0);
      if (v.get<double>() > best_v) {
        best_v = v.get<double>();
        best = k;
      }
    }
    EXPECT_EQ(s["choice"], best);
  }
}

TEST(RunEndToEnd, PackageAndVerifyARealRun) {
  testing::ScratchDir dir;
  const auto cfg = write_config(dir, "loglik");
  ASSERT_EQ(testing::run_command({testing::clinbench_binary(), "run", "--config", cfg}).exit_code,
            0);
  // A loglik run is not the track's protocol: refused, then packaged with --allow-unofficial.
  std::vector<std::string> cmd = {testing::clinbench_binary(),
                                  "package",
                                  dir.file("run"),
                                  "--model",
                                  "stories",
                                  "--dataset",
                                  "test",
                                  "-o",
                                  dir.file("sub.zip")};
  auto refused = testing::run_command(cmd);
  EXPECT_EQ(refused.exit_code, 3) << refused.err;
  EXPECT_NE(refused.err.find("scoring = loglik for "), std::string::npos) << refused.err;
  EXPECT_FALSE(fs::exists(dir.file("sub.zip")));
  cmd.push_back("--allow-unofficial");
  auto p = testing::run_command(cmd);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_NE(p.err.find("clinbench: warning: unofficial package"), std::string::npos) << p.err;
  EXPECT_TRUE(fs::exists(dir.file("sub.zip")));
  auto v = testing::run_command({testing::clinbench_binary(), "verify", dir.file("run")});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  const auto manifest = nlohmann::json::parse(testing::read_file(dir.file("run/manifest.json")));
  EXPECT_EQ(manifest["format"], "clinbench.manifest/1");
  auto host =
      nlohmann::json::parse(testing::read_file(dir.file("run/results.json")))["metadata"]["host"];
  EXPECT_TRUE(host["accelerator"].is_object()) << host.dump();
}

TEST(RunEndToEnd, LoglikMatchesBetweenIsolationModes) {
  testing::ScratchDir a, b;
  const auto ca = write_config(a, "loglik");
  const auto cb = write_config(b, "loglik");
  ASSERT_EQ(testing::run_command({testing::clinbench_binary(), "run", "--config", ca}).exit_code,
            0);
  ASSERT_EQ(testing::run_command(
                {testing::clinbench_binary(), "run", "--config", cb, "--isolation", "none"})
                .exit_code,
            0);
  const auto sa = read_samples(a.file("run/samples.jsonl"));
  const auto sb = read_samples(b.file("run/samples.jsonl"));
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i]["item_id"], sb[i]["item_id"]);
    EXPECT_EQ(sa[i]["choice"], sb[i]["choice"]);
  }
}

TEST(RunEndToEnd, SigkillAtSeveralPointsThenResumeHoldsEveryItemOnce) {
  for (int kill_after : {0, 1, 4, 7}) {
    testing::ScratchDir dir;
    const auto cfg = write_config(dir, "generate", 32);
    const std::string db = dir.file("run/run.db");
    pid_t pid = ::fork();
    if (pid == 0) {
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      ::execl(testing::clinbench_binary().c_str(), testing::clinbench_binary().c_str(), "run",
              "--config", cfg.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (kill_after == 0 ? fs::exists(db) : count_items(db) >= kill_after) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    const int64_t before = std::max<int64_t>(0, count_items(db));
    auto r = testing::run_command({testing::clinbench_binary(), "run", "--config", cfg});
    ASSERT_EQ(r.exit_code, 0) << "kill after " << kill_after << ": " << r.err;
    EXPECT_EQ(count_items(db), 10) << "kill after " << kill_after;
    const auto samples = read_samples(dir.file("run/samples.jsonl"));
    std::set<std::string> keys;
    for (const auto& s : samples) {
      keys.insert(s["dataset"].get<std::string>() + "/" + s["item_id"].get<std::string>());
    }
    EXPECT_EQ(keys.size(), 10u);
    EXPECT_EQ(samples.size(), 10u);
    EXPECT_NE(r.out.find(fmt::format("{} resumed", before)), std::string::npos) << r.out;
  }
}

TEST(RunEndToEnd, SecondProcessOnTheSameRunDirectoryIsRefused) {
  testing::ScratchDir dir;
  const auto cfg = write_config(dir, "generate");
  auto store = RunStore::open(dir.file("run"));  // this process holds the lock
  ASSERT_TRUE(store) << store.error().message;
  auto r = testing::run_command({testing::clinbench_binary(), "run", "--config", cfg});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(dir.file("run")), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(std::to_string(::getpid())), std::string::npos) << r.err;
  EXPECT_EQ(*store->item_count(), 0);
}

TEST(RunEndToEnd, BadRowsAreSkippedAndCountedOrFailWithStrict) {
  testing::ScratchDir dir;
  const std::vector<std::string> base = {testing::clinbench_binary(),
                                         "run",
                                         "--model",
                                         testing::stories_model(),
                                         "--dataset",
                                         data("curebench_broken.jsonl"),
                                         "--max-tokens",
                                         "8",
                                         "--scoring",
                                         "loglik"};
  auto args = base;
  args.insert(args.end(), {"--out", dir.file("lenient")});
  auto r = testing::run_command(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("curebench_broken.jsonl:"), std::string::npos) << r.err;
  const auto results = nlohmann::json::parse(testing::read_file(dir.file("lenient/results.json")));
  EXPECT_GT(results["extra_counts"]["curebench_broken"]["skipped_rows"].get<int>(), 3);

  args = base;
  args.insert(args.end(), {"--out", dir.file("strict"), "--strict"});
  auto s = testing::run_command(args);
  EXPECT_NE(s.exit_code, 0);
  EXPECT_NE(s.err.find("curebench_broken.jsonl:"), std::string::npos) << s.err;
  EXPECT_FALSE(fs::exists(dir.file("strict/run.db")));
}

TEST(RunEndToEnd, ModelThatFailsEveryStrategyIsRecordedAndTheRunGoesOn) {
  testing::ScratchDir dir;
  const std::string cfg = dir.file("two.toml");
  testing::write_file(cfg, fmt::format(R"(out = "{}"
[[models]]
name = "starved"
path = "{}"
host_memory = "16MiB"
[[models]]
name = "stories"
path = "{}"
[[datasets]]
name = "val"
path = "{}"
[decoding]
scoring = "loglik"
)",
                                       dir.file("run"), testing::stories_model(),
                                       testing::stories_model(), data("curebench_valset.jsonl")));
  auto r = testing::run_command({testing::clinbench_binary(), "run", "--config", cfg});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("model starved: no strategy loaded it"), std::string::npos) << r.err;
  auto store = RunStore::open(dir.file("run"));
  ASSERT_TRUE(store);
  auto starved = store->model("starved");
  ASSERT_TRUE(starved && starved->has_value());
  EXPECT_EQ((*starved)->strategy, "");
  const auto log = nlohmann::json::parse((*starved)->attempt_log);
  EXPECT_TRUE(log["succeeded"].is_null());
  EXPECT_EQ(*store->item_count(), 6);  // the second model's items
}

}  // namespace
}  // namespace clinbench

namespace clinbench {
namespace {

TEST(RunEndToEnd, ParallelSequencesGiveTheSameAnswersAsOneAtATime) {
  testing::ScratchDir a, b;
  const auto ca = write_config(a, "generate");
  const auto cb = write_config(b, "generate");
  auto ra =
      testing::run_command({testing::clinbench_binary(), "run", "--config", ca, "--parallel", "1"});
  ASSERT_EQ(ra.exit_code, 0) << ra.err;
  // Per-sequence KV, as one sequence has: with `auto` the layout is measured, and a noisy
  // measurement choosing the pool would make this compare layouts too (KvLayoutsGiveTheSameAnswers
  // does that).
  auto rb = testing::run_command(
      {testing::clinbench_binary(), "run", "--config", cb, "--parallel", "5", "--kv", "split"});
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  const auto sa = samples_by_item(a.file("run/samples.jsonl"));
  const auto sb = samples_by_item(b.file("run/samples.jsonl"));
  ASSERT_EQ(sa.size(), sb.size());
  // Batched matrix kernels add in another order than one-row ones, so a near-tie between two
  // tokens can go the other way after a while (llama.cpp's own batched decoding does the same).
  // Sequences do not leak into each other: every reply starts the same, and most match whole.
  size_t same = 0;
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i]["item_id"], sb[i]["item_id"]);
    const std::string pa = sa[i]["prediction"], pb = sb[i]["prediction"];
    EXPECT_EQ(pa.substr(0, 12), pb.substr(0, 12)) << sa[i]["item_id"];
    if (pa == pb && sa[i]["choice"] == sb[i]["choice"]) ++same;
  }
  EXPECT_GE(same * 10, sa.size() * 8) << same << " of " << sa.size() << " identical";
}

// The KV layout is honoured and recorded, and does not change the answers: the same greedy run
// with five sequences in cells of their own and in one pool. Attention over the pool sums over
// more (masked) cells, in another order, so a near-tie could go the other way after a while:
// every reply starts the same and most match whole, as between widths above.
TEST(RunEndToEnd, KvLayoutsGiveTheSameAnswers) {
  testing::ScratchDir a, b;
  std::vector<std::vector<nlohmann::json>> samples;
  for (const auto* dir : {&a, &b}) {
    const std::string kv = dir == &a ? "split" : "unified";
    auto r = testing::run_command({testing::clinbench_binary(), "run", "--config",
                                   write_config(*dir, "generate"), "--parallel", "5", "--kv", kv});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto store = RunStore::open(dir->file("run"));
    ASSERT_TRUE(store);
    auto model = store->model("stories");
    ASSERT_TRUE(model && model->has_value());
    const auto log = nlohmann::json::parse((*model)->attempt_log);
    EXPECT_EQ(log["kv"], kv);
    EXPECT_EQ(log["n_seq"], 5);
    const auto& attempt = log["attempts"][log["succeeded"].get<size_t>()];
    EXPECT_EQ(attempt["kv"]["layout"], kv) << attempt["kv"];
    EXPECT_EQ(attempt["kv"]["chosen_by"], "requested") << attempt["kv"];
    EXPECT_TRUE(attempt["kv"]["split_tok_s"].is_null());
    samples.push_back(samples_by_item(dir->file("run/samples.jsonl")));
  }
  const auto& sa = samples[0];
  const auto& sb = samples[1];
  ASSERT_EQ(sa.size(), sb.size());
  size_t same = 0;
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i]["item_id"], sb[i]["item_id"]);
    EXPECT_EQ(sa[i]["error"], "");
    EXPECT_EQ(sb[i]["error"], "");
    const std::string pa = sa[i]["prediction"], pb = sb[i]["prediction"];
    EXPECT_EQ(pa.substr(0, 12), pb.substr(0, 12)) << sa[i]["item_id"];
    if (pa == pb && sa[i]["choice"] == sb[i]["choice"]) ++same;
  }
  std::cout << same << " of " << sa.size() << " replies identical between split and unified KV\n";
  EXPECT_GE(same * 10, sa.size() * 8) << same << " of " << sa.size() << " identical";
}

}  // namespace
}  // namespace clinbench
