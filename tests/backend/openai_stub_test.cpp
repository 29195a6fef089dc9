// The openai backend against a local stub server (httplib in the test): retries on 500 and 429
// then success, Retry-After honoured, 4xx not retried, a server that never answers timing out
// per request, malformed answers as clear errors, and a whole run through the stub (attempt log,
// store, package, verify; the API key never written). The real llama-server is in
// tests/run/server_test.cpp; here the server's faults are the point.
#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

#include "backend/openai_backend.h"
#include "clinbench/config.h"
#include "clinbench/package.h"
#include "clinbench/provenance.h"
#include "clinbench/run.h"
#include "clinbench/store.h"
#include "test_util.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string reply_sse(const std::string& text) {
  nlohmann::json c1 = {{"choices", {{{"index", 0}, {"delta", {{"content", text}}}}}},
                       {"model", "stub-model"}};
  nlohmann::json c2 = {
      {"choices",
       {{{"index", 0}, {"delta", nlohmann::json::object()}, {"finish_reason", "stop"}}}}};
  nlohmann::json c3 = {{"choices", nlohmann::json::array()},
                       {"usage", {{"prompt_tokens", 20}, {"completion_tokens", 4}}}};
  return "data: " + c1.dump() + "\n\ndata: " + c2.dump() + "\n\ndata: " + c3.dump() +
         "\n\ndata: [DONE]\n\n";
}

// A stub OpenAI server on 127.0.0.1: `script` answers the first chat requests (status, body,
// Retry-After), then every request gets a good streamed reply. A status of 0 never answers
// (until the stub goes).
class Stub {
 public:
  struct Answer {
    int status;
    std::string body;
    std::string retry_after;
  };
  // With `tls` ({certificate, key} PEM files) the stub serves https.
  explicit Stub(std::vector<Answer> script = {}, std::string key = "",
                std::optional<std::pair<std::string, std::string>> tls = std::nullopt)
      : script_(std::move(script)), key_(std::move(key)), tls_(tls.has_value()) {
    if (tls) {
      server_ = std::make_unique<httplib::SSLServer>(tls->first.c_str(), tls->second.c_str());
    } else {
      server_ = std::make_unique<httplib::Server>();
    }
    server_->Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"object":"list","data":[{"id":"stub-model"}]})", "application/json");
    });
    server_->Post(
        "/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
          if (!key_.empty() && req.get_header_value("Authorization") != "Bearer " + key_) {
            res.status = 401;
            res.set_content(R"({"error":{"message":"bad key"}})", "application/json");
            return;
          }
          Answer a{200, "", ""};
          {
            std::lock_guard<std::mutex> lock(mu_);
            times_.push_back(Clock::now());
            const size_t n = requests_++;
            if (n < script_.size()) a = script_[n];
            last_body_ = req.body;
          }
          if (a.status == 0) {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [this] { return closing_; });
            return;
          }
          res.status = a.status;
          if (!a.retry_after.empty()) res.set_header("Retry-After", a.retry_after);
          if (a.status == 200 && a.body.empty()) {
            res.set_content(reply_sse("I think so.\nAnswer: A"), "text/event-stream");
          } else {
            res.set_content(a.body, a.status == 200 ? "text/event-stream" : "application/json");
          }
        });
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // The socket listens from bind on; stop() only works once the loop runs.
    while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Stub() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    server_->stop();
    thread_.join();
  }
  std::string base_url() const {
    return (tls_ ? "https" : "http") + std::string("://127.0.0.1:") + std::to_string(port_) + "/v1";
  }
  int requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  std::vector<Clock::time_point> times() {
    std::lock_guard<std::mutex> lock(mu_);
    return times_;
  }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::vector<Answer> script_;
  std::string key_;
  bool tls_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  bool closing_ = false;
  int requests_ = 0;
  std::string last_body_;
  std::vector<Clock::time_point> times_;
};

std::unique_ptr<Backend> backend_for(const Stub& stub, int retries = 5, double timeout_s = 30,
                                     const std::string& ca_cert = "") {
  OpenAIOptions o;
  o.base_url = stub.base_url();
  o.ca_cert = ca_cert;
  o.api_model = "stub-model";
  o.retries = retries;
  o.retry_backoff_s = 0.01;
  o.timeout_s = timeout_s;
  auto b = make_openai_backend(o);
  EXPECT_TRUE(b) << b.error().message;
  return std::move(*b);
}

const std::vector<ChatMessage> kConversation = {{"user", "Which? A or B"}};

TEST(OpenAIStub, RetriesOn500And429ThenSucceeds) {
  Stub stub({{500, "boom", ""}, {503, "busy", ""}, {429, "slow down", ""}});
  auto backend = backend_for(stub);
  auto g = backend->generate(kConversation, GenerationParams{});
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(g->text, "I think so.\nAnswer: A");
  EXPECT_EQ(g->prompt_tokens, 20);
  EXPECT_EQ(g->output_tokens, 4);
  EXPECT_FALSE(g->truncated);
  EXPECT_EQ(stub.requests(), 4);
  EXPECT_EQ(backend->stats().engine_calls, 1);
}

// A served reasoning model: its reasoning_content is kept apart from its answer, and a reply cut
// with reasoning and no answer yet was cut while thinking.
TEST(OpenAIStub, ReasoningContentIsKeptApart) {
  const std::string done =
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"QT? A.\"},"
      "\"finish_reason\":null}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Answer: A\"},"
      "\"finish_reason\":\"stop\"}]}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":8}}\n\n"
      "data: [DONE]\n\n";
  const std::string cut =
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"QT? maybe\"},"
      "\"finish_reason\":\"length\"}]}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":5}}\n\n"
      "data: [DONE]\n\n";
  Stub stub({{200, done, ""}, {200, cut, ""}});
  auto backend = backend_for(stub);
  auto g = backend->generate(kConversation, GenerationParams{});
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(g->text, "Answer: A");
  EXPECT_EQ(g->reasoning, "QT? A.");
  EXPECT_TRUE(g->thinking);
  EXPECT_TRUE(g->reasoning_closed);
  // No count from the server: the 8 tokens shared by length (6 bytes of reasoning, 9 of answer).
  EXPECT_EQ(g->reasoning_tokens, 3);
  g = backend->generate(kConversation, GenerationParams{});
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(g->text, "");
  EXPECT_TRUE(g->thinking);
  EXPECT_FALSE(g->reasoning_closed);
  EXPECT_EQ(g->reasoning_tokens, 5);
}

// A self-signed certificate for 127.0.0.1 (openssl's command line), in `dir`: {cert, key}.
std::pair<std::string, std::string> self_signed_certificate(const testing::ScratchDir& dir) {
  const std::string cert = dir.file("cert.pem"), key = dir.file("key.pem");
  auto r = testing::run_command({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                                 "-keyout", key, "-out", cert, "-days", "2", "-subj",
                                 "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return {cert, key};
}

TEST(OpenAIStub, HttpsWithItsCaTrustedWorks) {
  testing::ScratchDir dir;
  const auto tls = self_signed_certificate(dir);
  Stub stub({{503, "busy", ""}}, "", tls);
  ASSERT_EQ(stub.base_url().rfind("https://", 0), 0u);
  auto backend = backend_for(stub, 5, 30, tls.first);
  auto g = backend->generate(kConversation, GenerationParams{});
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(g->text, "I think so.\nAnswer: A");
  EXPECT_EQ(stub.requests(), 2);  // a retry over TLS too
  OpenAIOptions o;
  o.base_url = stub.base_url();
  o.ca_cert = tls.first;
  auto models = list_remote_models(o);
  ASSERT_TRUE(models) << models.error().message;
  EXPECT_EQ(models->front(), "stub-model");
}

TEST(OpenAIStub, HttpsWithAnUntrustedCertificateFailsAtOnceAndSaysSo) {
  testing::ScratchDir dir;
  const auto tls = self_signed_certificate(dir);
  Stub stub({}, "", tls);
  auto backend = backend_for(stub);  // the system's CAs: the stub's certificate is not signed
  auto g = backend->generate(kConversation, GenerationParams{});
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("TLS certificate could not be verified"), std::string::npos)
      << g.error().message;
  EXPECT_NE(g.error().message.find("ca_cert"), std::string::npos) << g.error().message;
  EXPECT_NE(g.error().message.find(stub.base_url()), std::string::npos) << g.error().message;
  EXPECT_EQ(stub.requests(), 0);  // refused in the handshake, and not retried

  // http:// to an https server, and https:// to an http one: clear errors, not retried.
  Stub plain;
  OpenAIOptions o;
  o.base_url = "https://127.0.0.1:" + plain.base_url().substr(plain.base_url().rfind(':') + 1);
  o.api_model = "stub-model";
  o.retry_backoff_s = 0.01;
  auto b2 = make_openai_backend(o);
  ASSERT_TRUE(b2);
  auto g2 = (*b2)->generate(kConversation, GenerationParams{});
  ASSERT_FALSE(g2);
  EXPECT_NE(g2.error().message.find("TLS handshake failed"), std::string::npos)
      << g2.error().message;

  // A ca_cert that holds no certificate: said so, not retried.
  testing::write_file(dir.file("garbage.pem"), "not a certificate\n");
  auto b4 = backend_for(stub, 5, 30, dir.file("garbage.pem"));
  auto g4 = b4->generate(kConversation, GenerationParams{});
  ASSERT_FALSE(g4);
  EXPECT_NE(g4.error().message.find("cannot load the CA certificates to trust from ca_cert '" +
                                    dir.file("garbage.pem") + "'"),
            std::string::npos)
      << g4.error().message;

  o.ca_cert = dir.file("no-such-ca.pem");
  auto b3 = make_openai_backend(o);
  ASSERT_FALSE(b3);
  EXPECT_NE(b3.error().message.find("no-such-ca.pem': no such file"), std::string::npos)
      << b3.error().message;
  o.ca_cert = dir.path();
  auto b5 = make_openai_backend(o);
  ASSERT_FALSE(b5);
  EXPECT_NE(b5.error().message.find("': not a file"), std::string::npos) << b5.error().message;
}

TEST(OpenAIStub, HonoursRetryAfter) {
  Stub stub({{429, "later", "1"}});
  auto backend = backend_for(stub);  // backoff alone would wait 5-10 ms
  auto g = backend->generate(kConversation, GenerationParams{});
  ASSERT_TRUE(g) << g.error().message;
  auto t = stub.times();
  ASSERT_EQ(t.size(), 2u);
  EXPECT_GE(std::chrono::duration<double>(t[1] - t[0]).count(), 0.95);
}

TEST(OpenAIStub, GivesUpAfterTheRetriesWithTheLastError) {
  Stub stub({{500, "e1", ""}, {500, "e2", ""}, {502, "e3 upstream", ""}, {500, "e4", ""}});
  auto backend = backend_for(stub, /*retries=*/2);
  auto g = backend->generate(kConversation, GenerationParams{});
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("HTTP 502: e3 upstream"), std::string::npos)
      << g.error().message;
  EXPECT_NE(g.error().message.find("3 tries"), std::string::npos) << g.error().message;
  EXPECT_NE(g.error().message.find(stub.base_url() + "/chat/completions"), std::string::npos);
  EXPECT_EQ(stub.requests(), 3);
}

TEST(OpenAIStub, ClientErrorsAreNotRetried) {
  Stub stub({{400, R"({"error":{"message":"bad request"}})", ""}});
  auto backend = backend_for(stub);
  auto g = backend->generate(kConversation, GenerationParams{});
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("HTTP 400"), std::string::npos) << g.error().message;
  EXPECT_EQ(stub.requests(), 1);
}

TEST(OpenAIStub, ServerThatNeverAnswersTimesOutPerRequest) {
  Stub stub({{0, "", ""}, {0, "", ""}});
  auto backend = backend_for(stub, /*retries=*/3, /*timeout_s=*/1.0);
  auto g = backend->generate(kConversation, GenerationParams{});
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("timeout of 1 s"), std::string::npos) << g.error().message;
  EXPECT_EQ(stub.requests(), 1);  // a timed-out request is not retried
}

TEST(OpenAIStub, MalformedAnswerIsAClearError) {
  Stub stub({{200, "data: {\"choices\": 5}\n\n", ""}});
  auto backend = backend_for(stub);
  auto g = backend->generate(kConversation, GenerationParams{});
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("malformed answer: chunk 1.choices: expected an array, got "
                                   "an integer"),
            std::string::npos)
      << g.error().message;
  EXPECT_NE(g.error().message.find("/chat/completions"), std::string::npos);
}

TEST(OpenAIStub, GenerateManyKeepsOrder) {
  Stub stub({{500, "x", ""}});
  OpenAIOptions o;
  o.base_url = stub.base_url();
  o.api_model = "stub-model";
  o.retry_backoff_s = 0.01;
  o.in_flight = 3;
  auto backend = make_openai_backend(o);
  ASSERT_TRUE(backend);
  std::vector<std::vector<ChatMessage>> convs(7, kConversation);
  std::vector<GenerationParams> params(7);
  auto out = (*backend)->generate_many(convs, params, 1);
  ASSERT_EQ(out.size(), 7u);
  for (const auto& g : out) {
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_EQ(g->text, "I think so.\nAnswer: A");
  }
  EXPECT_EQ(stub.requests(), 8);
}

// A whole run through the stub: the same store, exports, package and verify as in-process runs;
// the attempt log records the remote model; the key is sent and written nowhere.
TEST(OpenAIStub, RunRecordsEveryItemAndNeverWritesTheKey) {
  const std::string key = "sk-test-7f3a9c1e";
  Stub stub({{503, "warming up", ""}}, key);
  ::setenv("CLINBENCH_STUB_KEY", key.c_str(), 1);
  testing::ScratchDir dir;
  RunConfig cfg;
  ModelConfig m;
  m.name = "remote";
  m.backend = "openai";
  m.strategy = "remote";
  m.base_url = stub.base_url();
  m.api_key_env = "CLINBENCH_STUB_KEY";
  m.in_flight = 3;
  m.retry_backoff_s = 0.01;
  cfg.models.push_back(m);
  DatasetConfig d;
  d.name = "val";
  d.path = std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/datasets/curebench_valset.jsonl";
  cfg.datasets.push_back(d);
  cfg.decoding.scoring = Scoring::kLoglik;  // unavailable remotely: generation, with a note
  cfg.out = dir.file("run");
  std::vector<std::string> messages;
  RunOptions ro;
  ro.progress = [&](const RunProgress& p) {
    if (!p.message.empty()) messages.push_back(p.message);
  };
  auto r = run_evaluation(cfg, ro);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->models_loaded, 1);
  EXPECT_EQ(r->models_failed, 0);
  bool noted = false;
  for (const auto& msg : messages) {
    noted = noted || msg.find("scored by generation") != std::string::npos;
  }
  EXPECT_TRUE(noted);

  {
    auto store = RunStore::open(cfg.out);
    ASSERT_TRUE(store) << store.error().message;
    auto items = store->items();
    ASSERT_TRUE(items);
    EXPECT_EQ(static_cast<int64_t>(items->size()), r->items_evaluated);
    EXPECT_GT(items->size(), 3u);
    for (const auto& it : *items) {
      EXPECT_EQ(it.error, "") << it.item_id;
      EXPECT_EQ(it.scoring, "generate");
      EXPECT_EQ(it.prompt_tokens, 20);
      if (it.question_type == "multi_choice") {
        EXPECT_EQ(it.choice, "A") << it.item_id;
      }
    }
    auto model = store->model("remote");
    ASSERT_TRUE(model && *model);
    EXPECT_EQ((*model)->strategy, "remote");
    auto log = nlohmann::json::parse((*model)->attempt_log);
    ASSERT_EQ(log["attempts"].size(), 1u);
    EXPECT_EQ(log["attempts"][0]["strategy"], "remote");
    EXPECT_EQ(log["attempts"][0]["outcome"], "ok");
    EXPECT_EQ(log["attempts"][0]["remote"]["server_models"][0], "stub-model");
    EXPECT_EQ(log["attempts"][0]["remote"]["api_model"], "stub-model");
    EXPECT_EQ(log["model_path"], stub.base_url());
    auto attempt = attempt_log_from_json(log);
    EXPECT_TRUE(attempt) << attempt.error().message;
    auto pkg = write_submission(*store, "remote", {}, dir.file("submission.zip"));
    ASSERT_TRUE(pkg) << pkg.error().message;
    EXPECT_EQ(pkg->items, static_cast<int64_t>(items->size()));
  }
  auto v = verify_run(cfg.out);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_FALSE(v->drifted()) << format_verify_report(*v);

  // Resume: nothing left to do, nothing asked of the server.
  const int before = stub.requests();
  auto again = run_evaluation(cfg, ro);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->items_evaluated, 0);
  EXPECT_EQ(stub.requests(), before);

  for (const auto& e : fs::recursive_directory_iterator(cfg.out)) {
    if (!e.is_regular_file()) continue;
    EXPECT_EQ(testing::read_file(e.path().string()).find(key), std::string::npos)
        << e.path() << " holds the API key";
  }
  ::unsetenv("CLINBENCH_STUB_KEY");
}

TEST(OpenAIStub, UnreachableServerFailsTheModelAndTheRunGoesOn) {
  testing::ScratchDir dir;
  RunConfig cfg;
  ModelConfig m;
  m.name = "gone";
  m.backend = "openai";
  m.strategy = "remote";
  m.base_url = "http://127.0.0.1:1/v1";  // nothing listens on port 1
  m.retries = 1;
  m.retry_backoff_s = 0.01;
  cfg.models.push_back(m);
  DatasetConfig d;
  d.name = "val";
  d.path = std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/datasets/curebench_valset.jsonl";
  cfg.datasets.push_back(d);
  cfg.out = dir.file("run");
  auto r = run_evaluation(cfg, {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->models_failed, 1);
  auto store = RunStore::open(cfg.out);
  ASSERT_TRUE(store);
  auto model = store->model("gone");
  ASSERT_TRUE(model && *model);
  auto log = nlohmann::json::parse((*model)->attempt_log);
  EXPECT_EQ(log["attempts"][0]["outcome"], "failed");
  EXPECT_NE(
      log["attempts"][0]["reason"].get<std::string>().find("GET http://127.0.0.1:1/v1/models"),
      std::string::npos)
      << log["attempts"][0]["reason"];
}

}  // namespace
}  // namespace clinbench

namespace clinbench {
namespace {

// `clinbench run --base-url https://... --ca-cert`: the short form over TLS, end to end.
TEST(OpenAIStub, RunOverHttpsFromTheCommandLine) {
  testing::ScratchDir dir;
  const auto tls = self_signed_certificate(dir);
  Stub stub({}, "", tls);
  const std::string dataset =
      std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/datasets/curebench_valset.jsonl";
  auto r = testing::run_command({testing::clinbench_binary(), "run", "--base-url", stub.base_url(),
                                 "--ca-cert", tls.first, "--dataset", dataset, "--limit", "3",
                                 "--out", dir.file("run")});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto store = RunStore::open(dir.file("run"));
  ASSERT_TRUE(store) << store.error().message;
  auto items = store->items();
  ASSERT_TRUE(items);
  ASSERT_EQ(items->size(), 3u);
  for (const auto& it : *items) EXPECT_EQ(it.error, "") << it.item_id;

  // --ca-cert with an http:// URL is a usage error naming the flag.
  auto usage = testing::run_command({testing::clinbench_binary(), "run", "--base-url",
                                     "http://127.0.0.1:9/v1", "--ca-cert", tls.first, "--dataset",
                                     dataset, "--out", dir.file("run3")});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_NE(usage.err.find("--ca-cert: applies to an https:// base URL only"), std::string::npos)
      << usage.err;

  // Without the CA the model fails with the reason, and nothing was answered.
  auto bad =
      testing::run_command({testing::clinbench_binary(), "run", "--base-url", stub.base_url(),
                            "--dataset", dataset, "--limit", "3", "--out", dir.file("run2")});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE((bad.out + bad.err).find("TLS certificate could not be verified"), std::string::npos)
      << bad.out << bad.err;
}

}  // namespace
}  // namespace clinbench
