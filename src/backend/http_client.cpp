#include "backend/http_client.h"

#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>
#include <vector>

namespace clinbench {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The start of an error body, on one line, for messages.
std::string excerpt(const std::string& body) {
  std::string out;
  for (char c : body.substr(0, 300)) out += (c == '\n' || c == '\r') ? ' ' : c;
  if (body.size() > 300) out += "...";
  return out.empty() ? "(empty body)" : out;
}

bool retried_status(int status) { return status == 408 || status == 429 || status >= 500; }

// "1 try", "3 tries": how many tries a request took, for messages.
std::string tries_text(int tries) {
  return fmt::format("{} tr{}", tries, tries == 1 ? "y" : "ies");
}

// A new connection to origin with the timeouts, the API key and the CA to trust.
std::unique_ptr<httplib::Client> new_client(const std::string& origin, double timeout_s,
                                            const std::string& api_key,
                                            const std::string& ca_cert) {
  const auto secs = static_cast<time_t>(timeout_s);
  const auto usecs = static_cast<time_t>((timeout_s - static_cast<double>(secs)) * 1e6);
  auto client = std::make_unique<httplib::Client>(origin);
  client->set_connection_timeout(secs, usecs);
  client->set_read_timeout(secs, usecs);
  client->set_write_timeout(secs, usecs);
  client->set_keep_alive(true);
  if (!api_key.empty()) client->set_bearer_token_auth(api_key);
  client->enable_server_certificate_verification(true);
  if (!ca_cert.empty()) client->set_ca_cert_path(ca_cert);
  return client;
}

// What one try brought back.
struct OneTry {
  HttpResponse response;
  std::string retry_after;  // the Retry-After header, "" without one
  bool sent = false;        // an answer came back (of any status)
  bool timed_out = false;
  httplib::Error error = httplib::Error::Success;
};

// Sends the request once on client; a 2xx body goes to request.on_data when it is set.
OneTry try_once(httplib::Client& client, const HttpRequest& request, const std::string& path,
                double timeout_s) {
  httplib::Request req;
  req.method = request.method;
  req.path = path;
  if (request.method == "POST") {
    req.body = request.body;
    req.set_header("Content-Type", "application/json");
  }
  OneTry t;
  HttpResponse& out = t.response;
  const auto t0 = Clock::now();
  req.response_handler = [&](const httplib::Response& r) {
    out.status = r.status;
    out.content_type = r.get_header_value("Content-Type");
    t.retry_after = r.get_header_value("Retry-After");
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (seconds_since(t0) > timeout_s) {
      t.timed_out = true;
      return false;
    }
    if (out.status / 100 == 2 && request.on_data) return request.on_data({data, n});
    out.body.append(data, n);
    return true;
  };
  httplib::Response res;
  t.sent = client.send(req, res, t.error);
  out.ms = seconds_since(t0) * 1000.0;
  if (!t.sent) t.timed_out = t.timed_out || seconds_since(t0) >= timeout_s * 0.999;
  return t;
}

// The error that ends a request whose try got no answer, or nullopt when another try may get
// one.
std::optional<Error> unsent_error(const OneTry& t, const std::string& where, double timeout_s,
                                  int tries, const std::string& ca_cert) {
  if (t.timed_out) {
    return Error{ErrorCode::kResource,
                 fmt::format("{}: no complete answer within the timeout of {} s ({})", where,
                             timeout_s, tries_text(tries))};
  }
  if (t.error == httplib::Error::Canceled && t.response.status / 100 == 2) {
    return Error{ErrorCode::kInternal, fmt::format("{}: the answer was rejected", where)};
  }
  if (t.error == httplib::Error::SSLServerVerification) {
    // Permanent: another try meets the same certificate.
    return Error{ErrorCode::kIo,
                 fmt::format("{}: the server's TLS certificate could not be verified "
                             "(not signed by a trusted CA, or not for this host): trust "
                             "its CA with the model's ca_cert (a PEM file)",
                             where)};
  }
  if (t.error == httplib::Error::SSLLoadingCerts) {
    return Error{ErrorCode::kInvalidArgument,
                 fmt::format("{}: cannot load the CA certificates to trust from {} (not "
                             "a PEM file of certificates?)",
                             where,
                             ca_cert.empty() ? std::string("the system's store")
                                             : "ca_cert '" + ca_cert + "'")};
  }
  if (t.error == httplib::Error::SSLConnection) {
    return Error{ErrorCode::kIo, fmt::format("{}: the TLS handshake failed (does the server speak "
                                             "https on this port?)",
                                             where)};
  }
  return std::nullopt;
}

}  // namespace

Result<BaseUrl> parse_base_url(const std::string& url) {
  auto bad = [&](const char* why) {
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("base URL '{}': {} (expected e.g. http://127.0.0.1:8080/v1)", url, why));
  };
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return bad("no scheme");
  const std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return bad("the scheme must be http or https");
  const size_t host_start = scheme_end + 3;
  const size_t path_start = url.find('/', host_start);
  BaseUrl b;
  b.origin = url.substr(0, path_start);
  if (b.origin.size() <= host_start) return bad("no host");
  if (url.find_first_of("?#") != std::string::npos) return bad("a query or fragment");
  if (path_start != std::string::npos) b.prefix = url.substr(path_start);
  while (!b.prefix.empty() && b.prefix.back() == '/') b.prefix.pop_back();
  return b;
}

double backoff_delay_s(const RetryPolicy& policy, int retry, std::mt19937_64& rng) {
  const double d = std::min(policy.max_s, policy.initial_s * std::ldexp(1.0, std::min(retry, 30)));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return d * jitter(rng);
}

std::optional<double> parse_retry_after(std::string_view value, std::time_t now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return std::nullopt;
    return std::stod(std::string(value));
  }
  std::tm tm{};
  const std::string text(value);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const std::time_t at = timegm(&tm);
  return at > now ? static_cast<double>(at - now) : 0.0;
}

struct HttpClient::Pool {
  std::mutex mu;
  std::vector<std::unique_ptr<httplib::Client>> idle;
  std::mt19937_64 rng{std::random_device{}()};
};

HttpClient::HttpClient(BaseUrl base_url, std::string api_key, double timeout_s, RetryPolicy policy,
                       std::string ca_cert)
    : base_(std::move(base_url)),
      api_key_(std::move(api_key)),
      ca_cert_(std::move(ca_cert)),
      timeout_s_(timeout_s),
      policy_(policy),
      pool_(std::make_unique<Pool>()) {}

HttpClient::~HttpClient() = default;

Result<HttpResponse> HttpClient::send(const HttpRequest& request) {
  const std::string where = fmt::format("{} {}", request.method, url(request.path));
  std::string last_error;
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<httplib::Client> client;
    {
      std::lock_guard<std::mutex> lock(pool_->mu);
      if (!pool_->idle.empty()) {
        client = std::move(pool_->idle.back());
        pool_->idle.pop_back();
      }
    }
    if (!client) client = new_client(base_.origin, timeout_s_, api_key_, ca_cert_);
    if (request.on_try) request.on_try();

    OneTry t = try_once(*client, request, base_.prefix + request.path, timeout_s_);
    t.response.tries = attempt + 1;
    if (!t.sent) {
      if (auto e = unsent_error(t, where, timeout_s_, attempt + 1, ca_cert_)) {
        return std::unexpected(std::move(*e));
      }
      last_error = httplib::to_string(t.error);
    } else if (t.response.status / 100 == 2) {
      std::lock_guard<std::mutex> lock(pool_->mu);
      pool_->idle.push_back(std::move(client));
      return std::move(t.response);
    } else {
      last_error = fmt::format("HTTP {}: {}", t.response.status, excerpt(t.response.body));
      if (!retried_status(t.response.status)) {
        return make_error(ErrorCode::kIo, fmt::format("{}: {}", where, last_error));
      }
    }
    if (attempt >= policy_.retries) {
      return make_error(ErrorCode::kIo, fmt::format("{}: {} ({}, giving up)", where, last_error,
                                                    tries_text(attempt + 1)));
    }
    double delay = 0;
    {
      std::lock_guard<std::mutex> lock(pool_->mu);
      delay = backoff_delay_s(policy_, attempt, pool_->rng);
    }
    if (auto ra = parse_retry_after(t.retry_after, std::time(nullptr))) {
      delay = std::min(*ra, policy_.retry_after_max_s);
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
  }
}

}  // namespace clinbench
