#include "backend/openai_backend.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "backend/http_client.h"
#include "backend/openai_wire.h"

namespace clinbench {

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// The server's reasoning_content, apart from the answer. A reply cut by the budget with reasoning
// and no answer yet was cut while thinking. Without the server's count of reasoning tokens, the
// reply's tokens are shared between reasoning and answer by their lengths (an estimate).
void read_reasoning(const ChatReply& reply, Generation& g) {
  if (reply.reasoning.empty()) return;
  g.reasoning = reply.reasoning;
  g.thinking = true;
  g.reasoning_closed = !(reply.text.empty() && reply.finish_reason == "length");
  if (reply.reasoning_tokens) {
    g.reasoning_tokens = *reply.reasoning_tokens;
  } else {
    const auto r = static_cast<double>(reply.reasoning.size());
    const auto all = r + static_cast<double>(reply.text.size());
    g.reasoning_tokens = std::llround(static_cast<double>(reply.completion_tokens) * r / all);
  }
}

Result<std::unique_ptr<HttpClient>> make_client(const OpenAIOptions& o) {
  auto base = parse_base_url(o.base_url);
  if (!base) return std::unexpected(base.error());
  if (!o.ca_cert.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(o.ca_cert, ec)) {
      const bool exists = std::filesystem::exists(o.ca_cert, ec);
      return make_error(ErrorCode::kNotFound,
                        fmt::format("ca_cert '{}': {} (the PEM file of the CAs to trust for {})",
                                    o.ca_cert, exists ? "not a file" : "no such file", o.base_url));
    }
  }
  RetryPolicy policy;
  policy.retries = o.retries;
  policy.initial_s = o.retry_backoff_s;
  return std::make_unique<HttpClient>(*base, o.api_key, o.timeout_s, policy, o.ca_cert);
}

class OpenAIBackend final : public Backend {
 public:
  OpenAIBackend(OpenAIOptions options, std::unique_ptr<HttpClient> http)
      : options_(std::move(options)), http_(std::move(http)) {}

  Result<Generation> generate(const std::vector<ChatMessage>& messages,
                              const GenerationParams& params) override {
    HttpRequest req;
    req.method = "POST";
    req.path = "/chat/completions";
    req.body = chat_request_json(options_.api_model, messages, params)
                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    ChatStreamParser parser;
    Clock::time_point start, first;
    bool have_first = false;
    req.on_try = [&] {
      parser.reset();
      start = Clock::now();
      have_first = false;
    };
    req.on_data = [&](std::string_view data) {
      const bool ok = parser.feed(data);
      if (!have_first && parser.first_token_seen()) {
        first = Clock::now();
        have_first = true;
      }
      return ok;
    };
    auto res = http_->send(req);
    const auto end = Clock::now();
    const std::string where = "POST " + http_->url(req.path);
    if (!parser.error().empty()) {
      return make_error(ErrorCode::kCorrupt,
                        fmt::format("{}: malformed answer: {}", where, parser.error()));
    }
    if (!res) return std::unexpected(res.error());
    auto reply = parser.finish();
    if (!reply) return std::unexpected(reply.error().with_context(where));
    if (!have_first) first = end;
    Generation g;
    g.text = reply->text;
    g.prompt_tokens = reply->prompt_tokens;
    g.output_tokens = reply->completion_tokens;
    g.truncated = reply->finish_reason == "length";
    read_reasoning(*reply, g);
    g.batch_width = 0;  // the server's batching is not visible here
    g.ttft_ms = ms_between(start, first);
    g.prefill_ms = g.ttft_ms;  // as the client sees it: queueing and prompt evaluation
    g.decode_ms = ms_between(first, end);
    std::lock_guard<std::mutex> lock(mu_);
    stats_.engine_ms += res->ms;
    ++stats_.engine_calls;
    stats_.tokens_evaluated += g.prompt_tokens + g.output_tokens;
    return g;
  }

  // Up to in_flight requests at once (the server's slots batch them); `width` is the
  // in-process engine's and does not apply.
  void generate_stream(GenerationFeed& feed, int /*width*/) override {
    std::mutex m;
    std::condition_variable cv;
    int running = 0;
    auto work = [&] {
      std::unique_lock<std::mutex> lock(m);
      while (true) {
        auto req = feed.next();
        if (!req) {
          if (running == 0) break;
          cv.wait(lock);  // a reply may make another request ready
          continue;
        }
        ++running;
        lock.unlock();
        Result<Generation> g = generate(req->messages, req->params);
        lock.lock();
        --running;
        feed.done(req->id, std::move(g));
        cv.notify_all();
      }
      cv.notify_all();
    };
    const int n = std::max(1, options_.in_flight);
    std::vector<std::thread> threads;
    for (int t = 1; t < n; ++t) threads.emplace_back(work);
    work();
    for (auto& t : threads) t.join();
  }

  Result<LoglikScores> loglik(const std::vector<ChatMessage>&, const std::string&,
                              const std::vector<std::pair<std::string, std::string>>&) override {
    return make_error(ErrorCode::kUnsupported, kLoglikUnavailable);
  }

  int64_t count_tokens(const std::string&) override { return 0; }

  BackendStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  OpenAIOptions options_;
  std::unique_ptr<HttpClient> http_;
  mutable std::mutex mu_;
  BackendStats stats_;
};

}  // namespace

Result<std::vector<std::string>> list_remote_models(const OpenAIOptions& options) {
  auto http = make_client(options);
  if (!http) return std::unexpected(http.error());
  HttpRequest req;
  req.path = "/models";
  auto res = (*http)->send(req);
  if (!res) return std::unexpected(res.error());
  auto ids = parse_models_response(res->body);
  if (!ids) return std::unexpected(ids.error().with_context("GET " + (*http)->url(req.path)));
  return ids;
}

Result<std::unique_ptr<Backend>> make_openai_backend(const OpenAIOptions& options) {
  auto http = make_client(options);
  if (!http) return std::unexpected(http.error());
  return std::unique_ptr<Backend>(new OpenAIBackend(options, std::move(*http)));
}

}  // namespace clinbench
