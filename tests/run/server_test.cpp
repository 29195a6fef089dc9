// The openai backend against the real llama-server (built from the same llama.cpp sources) on
// 127.0.0.1 with stories260K: the same choices as the in-process run under greedy decoding, and
// a server killed mid-run and restarted without losing or repeating an item.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "clinbench/config.h"
#include "clinbench/run.h"
#include "clinbench/store.h"
#include "test_util.h"
#include "util/background_process.h"

namespace clinbench {
namespace {

// llama-server serving stories260K; killed (SIGKILL) when it goes out of scope, and with this
// process if the test dies.
class LlamaServer {
 public:
  LlamaServer() {
    auto port = free_local_port();
    if (!port) throw std::runtime_error(port.error().message);
    port_ = *port;
    start();
  }
  void start() {
    auto p = BackgroundProcess::start(
        {testing::llama_tool("llama-server"), "-m", testing::stories_model(), "--host", "127.0.0.1",
         "--port", std::to_string(port_), "-c", "4096", "-np", "4", "-t", "2", "--no-webui"},
        dir_.file("server.log"));
    if (!p) throw std::runtime_error(p.error().message);
    process_ = std::move(*p);
    auto ready = wait_until_ready(origin(), "/health", process_, 120);
    if (!ready) throw std::runtime_error(ready.error().message);
  }
  void kill() { process_.stop(); }
  std::string origin() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string base_url() const { return origin() + "/v1"; }

 private:
  testing::ScratchDir dir_;
  int port_ = 0;
  BackgroundProcess process_;
};

// 13 short items (and a bad row) of all three question types (stories260K's context is 512 tokens).
std::vector<DatasetConfig> datasets() {
  std::vector<DatasetConfig> out;
  for (const char* name : {"curebench_valset", "curebench_testset", "medqa_test"}) {
    DatasetConfig d;
    d.name = name;
    d.path = std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/datasets/" + name + ".jsonl";
    out.push_back(d);
  }
  return out;
}

ModelConfig remote_model(const LlamaServer& server) {
  ModelConfig m;
  m.name = "stories";
  m.backend = "openai";
  m.strategy = "remote";
  m.base_url = server.base_url();
  m.in_flight = 4;
  m.retry_backoff_s = 0.1;
  return m;
}

std::map<std::string, ItemRecord> items_of(const std::string& run_dir) {
  auto store = RunStore::open(run_dir);
  EXPECT_TRUE(store) << store.error().message;
  std::map<std::string, ItemRecord> out;
  if (!store) return out;
  auto items = store->items();
  EXPECT_TRUE(items);
  for (auto& r : *items) out[r.dataset + "/" + r.item_id] = r;
  return out;
}

TEST(ServerOpenAI, SameChoicesAsInProcessUnderGreedyDecoding) {
  LlamaServer server;
  testing::ScratchDir dir;
  RunConfig base;
  base.datasets = datasets();
  base.decoding.max_tokens = 32;
  base.decoding.temperature = 0;
  // One sequence at a time on both sides: batched kernels round differently and can flip a
  // near-tie between two tokens, as llama.cpp's own batched and single decodes do.
  base.decoding.parallel = 1;

  RunConfig local = base;
  ModelConfig m;
  m.name = "stories";
  m.path = testing::stories_model();
  m.ctx = 1024;
  m.threads = 2;
  local.models.push_back(m);
  local.out = dir.file("local");
  auto a = run_evaluation(local, {});
  ASSERT_TRUE(a) << a.error().message;

  RunConfig remote = base;
  remote.models.push_back(remote_model(server));
  remote.models.back().in_flight = 1;
  remote.out = dir.file("remote");
  auto b = run_evaluation(remote, {});
  ASSERT_TRUE(b) << b.error().message;
  ASSERT_EQ(b->models_loaded, 1);

  auto x = items_of(local.out), y = items_of(remote.out);
  ASSERT_EQ(static_cast<int64_t>(x.size()), a->items_evaluated);
  ASSERT_GT(x.size(), 10u);
  ASSERT_EQ(y.size(), x.size());
  size_t same_text = 0;
  for (const auto& [id, r] : x) {
    ASSERT_TRUE(y.count(id)) << id;
    const ItemRecord& s = y[id];
    EXPECT_EQ(s.error, "") << id;
    EXPECT_EQ(s.choice, r.choice) << id;
    EXPECT_EQ(s.correct, r.correct) << id;
    EXPECT_EQ(s.truncated, r.truncated) << id;
    // The same chat template (ChatML: stories260K has none) and tokenizer on both sides.
    EXPECT_EQ(s.prompt_tokens, r.prompt_tokens) << id;
    // The replies agree; a late near-tie may still differ (llama-server reuses the prompt prefix
    // its slot already holds, computed in another batch), never the start of a reply.
    EXPECT_EQ(s.prediction.substr(0, 12), r.prediction.substr(0, 12)) << id;
    if (s.prediction == r.prediction) {
      ++same_text;
      EXPECT_EQ(s.output_tokens, r.output_tokens) << id;
    }
    ASSERT_TRUE(s.ttft_ms);
    EXPECT_GT(*s.ttft_ms, 0) << id;
  }
  EXPECT_GE(same_text * 10, x.size() * 8) << same_text << " of " << x.size() << " replies equal";
}

TEST(ServerOpenAI, ServerKilledMidRunAndRestartedEveryItemOnce) {
  LlamaServer server;
  testing::ScratchDir dir;
  RunConfig cfg;
  cfg.datasets = datasets();
  cfg.decoding.max_tokens = 48;
  ModelConfig m = remote_model(server);
  m.in_flight = 2;
  m.retries = 12;
  cfg.models.push_back(m);
  cfg.out = dir.file("run");

  std::atomic<bool> killed{false};
  std::atomic<int64_t> done_at_kill{-1};
  std::thread restarter;
  std::string restart_error;
  // The restarted server dies with the thread that started it (PR_SET_PDEATHSIG), so that thread
  // waits for the run to end.
  std::mutex mu;
  std::condition_variable cv;
  bool run_over = false;
  RunOptions ro;
  ro.progress = [&](const RunProgress& p) {
    if (!p.message.empty() || killed || p.done < 2) return;
    // Two items in: kill the server under the requests in flight, bring it back a moment later.
    killed = true;
    done_at_kill = p.done;
    server.kill();
    restarter = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      try {
        server.start();
      } catch (const std::exception& e) {
        restart_error = e.what();
      }
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return run_over; });
    });
  };
  auto r = run_evaluation(cfg, ro);
  {
    std::lock_guard<std::mutex> lock(mu);
    run_over = true;
  }
  cv.notify_all();
  if (restarter.joinable()) restarter.join();
  ASSERT_EQ(restart_error, "");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(killed);
  // Every selected item exactly once: the store's key allows at most once, and the count is
  // the selection's.
  int64_t selected = 0;
  {
    auto store = RunStore::open(cfg.out);
    ASSERT_TRUE(store);
    auto ds = store->metadata("datasets");
    ASSERT_TRUE(ds);
    for (const auto& [name, d] : ds->items()) selected += d["selected"].get<int64_t>();
  }
  auto items = items_of(cfg.out);
  EXPECT_GT(selected, 10);
  EXPECT_EQ(static_cast<int64_t>(items.size()), selected);
  EXPECT_EQ(r->items_evaluated, selected);
  EXPECT_LT(done_at_kill, selected);
  for (const auto& [id, rec] : items) EXPECT_EQ(rec.error, "") << id;
}

}  // namespace
}  // namespace clinbench
