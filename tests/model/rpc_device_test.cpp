// The loading chain against an accelerator with a known amount of memory, on a machine without a
// GPU: llama.cpp's ggml-rpc-server on 127.0.0.1 with a memory cap (patches/llama.cpp/0003), a
// real ggml device over a socket whose allocations beyond the cap fail. The plan, the device
// budget, the placement and the peak device memory run as they would against a GPU.
//
// The test process never connects to the server itself (the plans and attempts run in child
// processes, which read CLINBENCH_RPC_SERVERS): the server serves one client at a time, so a
// supervisor holding the device would stall every worker.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "clinbench/load.h"
#include "clinbench/rpc.h"
#include "clinbench/synth.h"
#include "clinbench/units.h"
#include "test_util.h"
#include "util/background_process.h"

namespace clinbench {
namespace {

constexpr uint64_t kDeviceMiB = 64;

class RpcDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    auto port = free_local_port();
    ASSERT_TRUE(port) << port.error().message;
    endpoint_ = "127.0.0.1:" + std::to_string(*port);
    auto p = BackgroundProcess::start(
        {testing::llama_tool("ggml-rpc-server"), "-H", "127.0.0.1", "-p", std::to_string(*port),
         "-t", "2", "-m", std::to_string(kDeviceMiB)},
        dir_.file("rpc-server.log"));
    ASSERT_TRUE(p) << p.error().message;
    server_ = std::move(*p);
    auto up = wait_until_accepting(*port, server_, 10);
    ASSERT_TRUE(up) << up.error().message;
    // Connects once (no command) and sets CLINBENCH_RPC_SERVERS for the children.
    auto ready = use_rpc_servers(endpoint_);
    ASSERT_TRUE(ready) << ready.error().message;
  }
  void TearDown() override { ::unsetenv(kRpcServersEnv); }

  static LoadOptions options(const std::string& strategy) {
    LoadOptions o;
    o.strategy = strategy;
    o.hash = false;
    o.n_ctx = 512;
    o.n_threads = 2;
    o.warmup.prompt = "Once upon a time";
    o.warmup.n_predict = 24;
    return o;
  }

  // The one attempt of `strategy`, which must have loaded.
  static Attempt loaded(const std::string& strategy, std::optional<uint64_t> device_budget = {}) {
    LoadOptions o = options(strategy);
    o.device_budget = device_budget;
    auto log = run_load_chain(testing::stories_model(), o);
    EXPECT_TRUE(log) << log.error().message;
    if (!log) return {};
    EXPECT_TRUE(log->accelerator.present);
    EXPECT_EQ(log->accelerator.total, kDeviceMiB << 20);
    EXPECT_TRUE(log->succeeded.has_value()) << format_attempt_log(*log);
    return log->attempts.empty() ? Attempt{} : log->attempts.back();
  }

  testing::ScratchDir dir_;
  std::string endpoint_;
  BackgroundProcess server_;
};

TEST_F(RpcDevice, NativePutsEveryLayerThereAndGeneratesAsTheCpuDoes) {
  const Attempt native = loaded("native");
  ASSERT_EQ(native.outcome, Outcome::kOk) << native.reason;
  EXPECT_EQ(native.placement.n_gpu_layers, native.placement.n_layers);
  EXPECT_GT(native.placement.n_layers, 0);
  ASSERT_TRUE(native.allocated_device && native.allocated_host);
  // Every layer's KV cache on the device, none on the host (llama.cpp's n_gpu_layers counts the
  // output head: n_layer alone would leave the first layer on the CPU).
  EXPECT_GT(native.allocated_device->kv, 0u);
  EXPECT_EQ(native.allocated_host->kv, 0u);
  testing::expect_same_bytes(*native.allocated_device, native.projected_device, "native device");
  // The device's own reading (its free memory, sampled) sees what llama.cpp allocated there.
  ASSERT_TRUE(native.peak_device_bytes.has_value());
  EXPECT_GE(*native.peak_device_bytes, native.allocated_device->total());
  EXPECT_LE(*native.peak_device_bytes, kDeviceMiB << 20);

  const Attempt cpu = loaded("cpu");
  ASSERT_EQ(cpu.outcome, Outcome::kOk) << cpu.reason;
  EXPECT_EQ(cpu.placement.n_gpu_layers, 0);
  ASSERT_TRUE(cpu.allocated_device);
  EXPECT_EQ(cpu.allocated_device->total(), 0u);
  EXPECT_EQ(cpu.peak_device_bytes.value_or(1), 0u);
  ASSERT_FALSE(native.warmup.generated_tokens.empty());
  EXPECT_EQ(native.warmup.generated_tokens, cpu.warmup.generated_tokens);
}

TEST_F(RpcDevice, QuantizedStrategiesPlanWhatTheyAllocateThere) {
  for (const char* s : {"quantize:q8", "quantize:q4"}) {
    const Attempt a = loaded(s);
    ASSERT_EQ(a.outcome, Outcome::kOk) << s << ": " << a.reason;
    EXPECT_EQ(a.placement.n_gpu_layers, a.placement.n_layers) << s;
    ASSERT_TRUE(a.allocated_device) << s;
    testing::expect_same_bytes(*a.allocated_device, a.projected_device, s);
    EXPECT_TRUE(a.warmup.passed) << s;
  }
}

TEST_F(RpcDevice, OffloadPutsTheLayersThatFitTheBudgetThere) {
  const Attempt native = loaded("native");
  ASSERT_TRUE(native.allocated_device);
  // A budget a little under what the whole model needs there.
  const uint64_t budget = native.allocated_device->total() - (native.allocated_device->total() / 8);
  const Attempt a = loaded("offload", budget);
  ASSERT_EQ(a.outcome, Outcome::kOk) << a.reason;
  EXPECT_GT(a.placement.n_gpu_layers, 0);
  EXPECT_LT(a.placement.n_gpu_layers, a.placement.n_layers);
  ASSERT_TRUE(a.allocated_device && a.allocated_host);
  testing::expect_same_bytes(*a.allocated_device, a.projected_device, "offload device");
  EXPECT_EQ(a.allocated_host->kv, a.projected_host.kv);
  EXPECT_LE(a.allocated_device->total(), budget);
  ASSERT_TRUE(a.peak_device_bytes.has_value());
  EXPECT_LE(*a.peak_device_bytes, budget);
  EXPECT_GT(*a.peak_device_bytes, 0u);
  // The budget was made real: the rest of the device's free memory was held back.
  ASSERT_TRUE(a.device_withheld_bytes.has_value());
  EXPECT_EQ(*a.device_withheld_bytes, (kDeviceMiB << 20) - budget);
  EXPECT_TRUE(a.warmup.passed);
}

// A LoRA adapter's tensors go where llama.cpp puts them, beside their base tensors: on the device
// for the layers there, on the host for the others; the plan counts them on the same side, and
// what llama.cpp allocated on each side is what was planned (issue 15).
TEST_F(RpcDevice, AnAdaptersBytesArePlannedAndAllocatedBesideItsBaseTensors) {
  LoraSynthOptions so;
  so.base = testing::stories_model();
  so.rank = 4;
  const std::string lora = dir_.file("a.gguf");
  auto written = write_synthetic_lora(so, lora);
  ASSERT_TRUE(written) << written.error().message;
  auto attempt = [&](const std::string& strategy, std::optional<uint64_t> budget, bool adapter) {
    LoadOptions o = options(strategy);
    o.device_budget = budget;
    if (adapter) o.adapters = {{lora, 1.0f}};
    auto log = run_load_chain(testing::stories_model(), o);
    EXPECT_TRUE(log) << log.error().message;
    EXPECT_TRUE(log && log->succeeded) << (log ? format_attempt_log(*log) : "");
    return log && log->succeeded ? log->attempts[*log->succeeded] : Attempt{};
  };
  // native: every layer there, and with them every pair of the adapter.
  const Attempt base = attempt("native", {}, false);
  const Attempt with = attempt("native", {}, true);
  ASSERT_EQ(with.outcome, Outcome::kOk) << with.reason;
  ASSERT_TRUE(with.allocated_device && with.allocated_host && base.allocated_device);
  const uint64_t on_device = with.projected_device.weights - base.projected_device.weights;
  EXPECT_GT(on_device, 0u);
  EXPECT_EQ(with.allocated_device->weights - base.allocated_device->weights, on_device);
  testing::expect_same_bytes(*with.allocated_device, with.projected_device, "native");
  EXPECT_TRUE(with.warmup.passed);

  // quantize:q8 and quantize:q4: the base quantized there, the adapter in its own precision.
  for (const char* s : {"quantize:q8", "quantize:q4"}) {
    const Attempt q = attempt(s, {}, true);
    ASSERT_EQ(q.outcome, Outcome::kOk) << s << ": " << q.reason;
    ASSERT_TRUE(q.allocated_device) << s;
    testing::expect_same_bytes(*q.allocated_device, q.projected_device, s);
  }

  // offload under a budget that holds some layers: their pairs go with them, the others' stay
  // on the host, and the layers are fitted with the pairs counted, so the attempt stays within
  // the budget (the base alone may fit a layer more).
  const uint64_t budget = base.allocated_device->total() - base.allocated_device->total() / 4;
  const Attempt off_base = attempt("offload", budget, false);
  const Attempt off = attempt("offload", budget, true);
  ASSERT_EQ(off.outcome, Outcome::kOk) << off.reason;
  ASSERT_TRUE(off.allocated_device && off.allocated_host);
  EXPECT_GT(off.placement.n_gpu_layers, 0);
  EXPECT_LT(off.placement.n_gpu_layers, off.placement.n_layers);
  EXPECT_LE(off.placement.n_gpu_layers, off_base.placement.n_gpu_layers);
  testing::expect_same_bytes(*off.allocated_device, off.projected_device, "offload");
  EXPECT_LE(off.allocated_device->total(), budget);
  if (off.placement.load_mode != "mmap") {
    EXPECT_EQ(off.allocated_host->weights, off.projected_host.weights);
  }
  EXPECT_TRUE(off.warmup.passed);
}

TEST_F(RpcDevice, AutoSkipsWhatTheDeviceBudgetCannotHold) {
  const Attempt native = loaded("native");
  ASSERT_TRUE(native.allocated_device);
  const uint64_t budget = native.allocated_device->total() * 3 / 4;
  LoadOptions o = options("auto");
  o.device_budget = budget;
  auto log = run_load_chain(testing::stories_model(), o);
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_TRUE(log->succeeded.has_value()) << format_attempt_log(*log);
  const Attempt& ok = log->attempts[*log->succeeded];
  EXPECT_EQ(ok.strategy, Strategy::kOffload) << format_attempt_log(*log);
  for (size_t i = 0; i < *log->succeeded; ++i) {
    const Attempt& a = log->attempts[i];
    EXPECT_EQ(a.outcome, Outcome::kSkipped) << to_string(a.strategy);
    EXPECT_GT(a.projected_device.total(), budget) << to_string(a.strategy);
    EXPECT_NE(a.reason.find("device memory"), std::string::npos) << a.reason;
  }
  EXPECT_LE(ok.peak_device_bytes.value_or(budget + 1), budget);
}

TEST_F(RpcDevice, AnAttemptOverTheDeviceBudgetFailsInTheDevice) {
  const Attempt native = loaded("native");
  ASSERT_TRUE(native.allocated_device);
  LoadOptions o = options("native");
  o.device_budget = native.allocated_device->total() / 2;
  o.skip_over_budget = false;  // --attempt-all: the plan says no, the device has to say it too
  auto log = run_load_chain(testing::stories_model(), o);
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_EQ(log->attempts.size(), 1u);
  const Attempt& a = log->attempts[0];
  EXPECT_EQ(a.outcome, Outcome::kFailed) << a.reason;
  EXPECT_NE(a.reason.find("failed to allocate"), std::string::npos) << a.reason;
  EXPECT_FALSE(log->succeeded.has_value());
  // The device is whole again for the next process: native loads at full size.
  const Attempt again = loaded("native");
  EXPECT_EQ(again.outcome, Outcome::kOk) << again.reason;
}

TEST_F(RpcDevice, InspectShowsTheDeviceAndItsPlan) {
  auto r = testing::run_command({testing::clinbench_binary(), "inspect", testing::stories_model(),
                                 "--no-hash", "--json", "--ctx", "512", "--rpc", endpoint_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& acc = j.at("plan").at("accelerator");
  EXPECT_TRUE(acc.at("present").get<bool>());
  EXPECT_EQ(acc.at("description").get<std::string>(), endpoint_);
  EXPECT_EQ(acc.at("total").get<uint64_t>(), kDeviceMiB << 20);
  for (const auto& s : j.at("plan").at("strategies")) {
    const std::string name = s.at("strategy").get<std::string>();
    const uint64_t device = s.at("device").at("total").get<uint64_t>();
    if (name == "cpu") {
      EXPECT_EQ(device, 0u);
    } else {
      EXPECT_GT(device, 0u) << name;
    }
  }
}

TEST_F(RpcDevice, InspectMeasuresTheDevicesBandwidthBesideTheCpus) {
  const std::vector<std::string> argv = {testing::clinbench_binary(),
                                         "inspect",
                                         testing::stories_model(),
                                         "--no-hash",
                                         "--json",
                                         "--ctx",
                                         "512",
                                         "--bandwidth",
                                         "--threads",
                                         "1",
                                         "--rpc",
                                         endpoint_,
                                         "--bandwidth-size"};
  auto with = [&](const std::string& size) {
    auto a = argv;
    a.push_back(size);
    return testing::run_command(a);
  };
  auto r = with("8MiB");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto devices = nlohmann::json::parse(r.out).at("roofline").at("devices");
  ASSERT_EQ(devices.size(), 2u);
  EXPECT_EQ(devices[0].at("device"), "CPU");
  EXPECT_EQ(devices[1].at("device").get<std::string>().rfind("RPC", 0), 0u) << devices[1];
  EXPECT_EQ(devices[1].at("description"), endpoint_);
  EXPECT_EQ(devices[1].at("threads"), 0);
  EXPECT_GT(devices[1].at("best_bytes_per_s").get<double>(), 0);
  // A matrix larger than the device holds: the error names the device; nothing is left there.
  auto big = with("96MiB");
  EXPECT_NE(big.exit_code, 0);
  EXPECT_NE(big.err.find("cannot allocate a 96.00 MiB matrix"), std::string::npos) << big.err;
  EXPECT_NE(big.err.find("bandwidth on RPC"), std::string::npos) << big.err;
  EXPECT_EQ(with("8MiB").exit_code, 0);
}

std::vector<nlohmann::json> samples_of(const std::string& run_dir) {
  std::vector<nlohmann::json> out;
  std::istringstream in(testing::read_file(run_dir + "/samples.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a["item_id"].template get<std::string>() < b["item_id"].template get<std::string>();
  });
  return out;
}

// An evaluation whose worker holds the model on the device: every layer there, and the same
// answers as on the CPU, for generation and for log-likelihood scoring.
TEST_F(RpcDevice, RunOnTheDeviceAnswersAsOnTheCpu) {
  const std::string dataset =
      std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/datasets/curebench_valset.jsonl";
  for (const char* scoring : {"generate", "loglik"}) {
    std::map<std::string, std::string> dirs;
    for (const char* strategy : {"native", "cpu"}) {
      dirs[strategy] = dir_.file(std::string(scoring) + "-" + strategy);
      auto r = testing::run_command(
          {testing::clinbench_binary(), "run", "--model", testing::stories_model(), "--dataset",
           dataset, "--out", dirs[strategy], "--ctx", "512", "--max-tokens", "24", "--scoring",
           scoring, "--strategy", strategy, "--rpc", endpoint_});
      ASSERT_EQ(r.exit_code, 0) << scoring << " " << strategy << ": " << r.err;
      // The attempt log the run kept: where the model was.
      std::vector<std::string> logs;
      for (const auto& e : std::filesystem::directory_iterator(dirs[strategy] + "/attempts")) {
        logs.push_back(e.path());
      }
      ASSERT_EQ(logs.size(), 1u);
      const auto log = nlohmann::json::parse(testing::read_file(logs[0]));
      EXPECT_TRUE(log.at("accelerator").at("present").get<bool>());
      const auto& placement = log.at("attempts").back().at("placement");
      const int on_device = placement.at("n_gpu_layers").get<int>();
      EXPECT_EQ(on_device,
                std::string(strategy) == "native" ? placement.at("n_layers").get<int>() : 0)
          << scoring << " " << strategy;
    }
    const auto device = samples_of(dirs["native"]);
    const auto cpu = samples_of(dirs["cpu"]);
    ASSERT_EQ(device.size(), cpu.size());
    ASSERT_FALSE(device.empty());
    // Something to compare: generated text, or options chosen by their likelihood.
    const char* answer = std::string(scoring) == "generate" ? "prediction" : "choice";
    EXPECT_TRUE(std::any_of(device.begin(), device.end(), [&](const auto& s) {
      return s[answer] != "";
    })) << scoring;
    for (size_t i = 0; i < device.size(); ++i) {
      const std::string what = std::string(scoring) + " " + device[i]["item_id"].dump();
      EXPECT_EQ(device[i]["item_id"], cpu[i]["item_id"]) << what;
      EXPECT_EQ(device[i]["error"], "") << what;
      EXPECT_EQ(device[i]["choice"], cpu[i]["choice"]) << what;
      EXPECT_EQ(device[i]["prediction"], cpu[i]["prediction"]) << what;
    }
  }
}

TEST_F(RpcDevice, AServerGoneBeforeTheAttemptIsAClearError) {
  server_.stop();
  auto log = run_load_chain(testing::stories_model(), options("native"));
  ASSERT_FALSE(log);
  EXPECT_NE(log.error().message.find("RPC server " + endpoint_ + ": cannot connect"),
            std::string::npos)
      << log.error().message;
}

// Without a server: what --rpc and CLINBENCH_RPC_SERVERS refuse.
TEST(RpcServers, MalformedListsNameTheEntry) {
  for (const char* bad :
       {"", "127.0.0.1", ":50052", "host:0", "host:65536", "host:5x", "a:1,,b:2", "a:1,"}) {
    auto r = parse_rpc_servers(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << bad;
    }
  }
  auto ok = parse_rpc_servers("127.0.0.1:50052,gpu-host:1");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(*ok, (std::vector<std::string>{"127.0.0.1:50052", "gpu-host:1"}));
}

TEST(RpcServers, TheFlagRefusesAServerThatDoesNotAnswer) {
  auto port = free_local_port();
  ASSERT_TRUE(port) << port.error().message;
  const std::string endpoint = "127.0.0.1:" + std::to_string(*port);
  auto r = use_rpc_servers(endpoint);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(endpoint + ": cannot connect"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(::getenv(kRpcServersEnv), nullptr);  // nothing set for children

  auto cli = testing::run_command({testing::clinbench_binary(), "load", testing::stories_model(),
                                   "--no-hash", "--rpc", endpoint});
  EXPECT_EQ(cli.exit_code, 3);
  EXPECT_EQ(cli.err,
            "clinbench: --rpc: RPC server " + endpoint + ": cannot connect: Connection refused\n");
  cli = testing::run_command(
      {testing::clinbench_binary(), "inspect", testing::stories_model(), "--rpc", "localhost"});
  EXPECT_EQ(cli.exit_code, 2);
  EXPECT_EQ(cli.err, "clinbench: --rpc: RPC server 'localhost': expected host:port\n");
}

}  // namespace
}  // namespace clinbench
