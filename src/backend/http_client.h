// HTTP requests to an inference server, with retries: exponential backoff with jitter on
// connection errors, 429 and 5xx, honouring Retry-After; a per-request timeout. cpp-httplib
// underneath (Debian's libcpp-httplib, with TLS). Used by the openai backend.
//
// Contract: send() is thread-safe (connections are pooled, one request per connection at a
// time). Errors name the method and URL and what went wrong; nothing throws. The API key goes
// into the Authorization header only, never into an error message.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "clinbench/error.h"

namespace clinbench {

// "http://host:8080/v1" -> origin "http://host:8080", path prefix "/v1" (no trailing slash).
struct BaseUrl {
  std::string origin;
  std::string prefix;
};
Result<BaseUrl> parse_base_url(const std::string& url);

struct RetryPolicy {
  int retries = 5;                 // tries after the first
  double initial_s = 0.5;          // delay before the first retry
  double max_s = 30;               // cap of one backoff delay
  double retry_after_max_s = 600;  // cap of an honoured Retry-After
};

// The delay before retry `retry` (0 for the first): min(max_s, initial_s * 2^retry), jittered
// uniformly into [d/2, d] so that clients retrying together spread out.
double backoff_delay_s(const RetryPolicy& policy, int retry, std::mt19937_64& rng);

// A Retry-After value: delay-seconds ("3") or an HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT"),
// as seconds from `now` (0 when the date is past); nullopt when it is neither.
std::optional<double> parse_retry_after(std::string_view value, std::time_t now);

struct HttpRequest {
  std::string method = "GET";  // "GET" or "POST"
  std::string path;            // after the base URL's prefix: "/chat/completions"
  std::string body;            // POST: JSON
  // Called before each try (the first and every retry), e.g. to reset a stream parser.
  std::function<void()> on_try;
  // When set, the body of a 2xx answer goes here piece by piece as it arrives (and is not kept
  // in HttpResponse::body); return false to abort the request.
  std::function<bool(std::string_view)> on_data;
};

struct HttpResponse {
  int status = 0;
  std::string body;  // without on_data; with it, only for non-2xx answers
  std::string content_type;
  int tries = 1;
  double ms = 0;  // the successful try, request sent to last byte
};

class HttpClient {
 public:
  // REQUIRES: base_url parsed by parse_base_url. timeout_s > 0. For https, the server's
  // certificate is verified (chain and host name) against `ca_cert` (a PEM file), or the
  // system's CAs when it is "" (OpenSSL's defaults: SSL_CERT_FILE and SSL_CERT_DIR apply).
  HttpClient(BaseUrl base_url, std::string api_key, double timeout_s, RetryPolicy policy,
             std::string ca_cert = "");
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends the request, retrying as the policy says. A 2xx answer is a response; another status
  // after the last retry (or a status that is not retried: 4xx other than 408 and 429) is an
  // error "POST URL: HTTP 404: <start of the body>". A request that runs past the timeout is
  // an error and is not retried: it already waited that long.
  Result<HttpResponse> send(const HttpRequest& request);

  std::string url(const std::string& path) const { return base_.origin + base_.prefix + path; }

 private:
  struct Pool;
  BaseUrl base_;
  std::string api_key_;
  std::string ca_cert_;
  double timeout_s_;
  RetryPolicy policy_;
  std::unique_ptr<Pool> pool_;
};

}  // namespace clinbench
