// --rpc: accelerators served over the network by llama.cpp's ggml-rpc-server.
#include "cli/commands.h"
#include "clinbench/rpc.h"

namespace clinbench::cli {

void add_rpc_option(CLI::App* sub, std::string* servers) {
  sub->add_option("--rpc", *servers,
                  "accelerators served by llama.cpp's ggml-rpc-server: host:port[,host:port...] "
                  "(also CLINBENCH_RPC_SERVERS); used when there is no local GPU");
}

std::optional<int> apply_rpc_option(const std::string& servers) {
  if (servers.empty()) return std::nullopt;
  if (auto r = use_rpc_servers(servers); !r) return report_error(r.error().with_context("--rpc"));
  return std::nullopt;
}

}  // namespace clinbench::cli
