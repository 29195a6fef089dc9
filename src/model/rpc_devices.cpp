#include <fmt/format.h>
#include <ggml-backend.h>

#include <charconv>
#include <cstdlib>
#include <mutex>
#include <optional>

#include "clinbench/rpc.h"
#include "model/backend_init.h"
#include "util/tcp_check.h"

namespace clinbench {

namespace {

struct Endpoint {
  std::string host;
  std::string port;
};

Result<Endpoint> split_endpoint(const std::string& e) {
  const auto colon = e.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("RPC server '{}': expected host:port", e));
  }
  Endpoint out{e.substr(0, colon), e.substr(colon + 1)};
  int port = 0;
  const auto* end = out.port.data() + out.port.size();
  const auto [p, ec] = std::from_chars(out.port.data(), end, port);
  if (out.port.empty() || ec != std::errc() || p != end || port < 1 || port > 65535) {
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("RPC server '{}': port '{}' is not a number from 1 to 65535", e, out.port));
  }
  return out;
}

// A TCP connection to `e` within `timeout_ms`, closed at once: the server's accept loop reads
// no command from it and goes on to the next client.
Result<void> probe(const std::string& e, int timeout_ms) {
  auto ep = split_endpoint(e);
  if (!ep) return std::unexpected(ep.error());
  if (auto r = tcp_connect_check(ep->host, ep->port, timeout_ms); !r) {
    return std::unexpected(r.error().with_context("RPC server " + e));
  }
  return {};
}

Result<void> register_servers() {
  const char* env = std::getenv(kRpcServersEnv);
  if (env == nullptr || *env == '\0') return {};
  auto servers = parse_rpc_servers(env);
  if (!servers) return std::unexpected(servers.error().with_context(kRpcServersEnv));
  ensure_llama_backend();
  ggml_backend_reg_t rpc = ggml_backend_reg_by_name("RPC");
  using AddServer = ggml_backend_reg_t (*)(const char*);
  auto add = rpc ? reinterpret_cast<AddServer>(
                       ggml_backend_reg_get_proc_address(rpc, "ggml_backend_rpc_add_server"))
                 : nullptr;
  if (add == nullptr) {
    return make_error(ErrorCode::kUnsupported,
                      "this clinbench's llama.cpp has no RPC backend (build it with GGML_RPC=ON, "
                      "as scripts/llama_cpp.sh does)");
  }
  for (const auto& s : *servers) {
    // ggml aborts the process when it cannot connect: check first, for an error instead.
    if (auto p = probe(s, 5000); !p) return p;
    ggml_backend_reg_t reg = add(s.c_str());
    if (reg == nullptr) {
      return make_error(ErrorCode::kUnsupported, fmt::format("RPC server {}: no devices", s));
    }
    ggml_backend_register(reg);
  }
  return {};
}

}  // namespace

Result<std::vector<std::string>> parse_rpc_servers(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    std::string e = list.substr(start, comma - start);
    if (e.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("'{}': an empty RPC server in the list", list));
    }
    if (auto ep = split_endpoint(e); !ep) return std::unexpected(ep.error());
    out.push_back(std::move(e));
    start = comma + 1;
  }
  return out;
}

Result<void> use_rpc_servers(const std::string& list) {
  auto servers = parse_rpc_servers(list);
  if (!servers) return std::unexpected(servers.error());
  for (const auto& s : *servers) {
    if (auto p = probe(s, 5000); !p) return p;
  }
  ::setenv(kRpcServersEnv, list.c_str(), 1);
  return {};
}

Result<void> ensure_rpc_devices() {
  static std::once_flag once;
  static Result<void> result;
  std::call_once(once, [] { result = register_servers(); });
  return result;
}

}  // namespace clinbench
