// Accelerators over the network: ggml's RPC backend, whose server (llama.cpp's ggml-rpc-server)
// runs a GPU or CPU device on another machine, or on this one. clinbench treats the first RPC
// device as the accelerator when no local GPU is present: plan, device budget, placement and
// peak device memory as for a GPU.
//
// The servers are named by CLINBENCH_RPC_SERVERS ("host:port[,host:port...]"), which the
// commands' --rpc flag sets, so that planning children and workers see them too. Only those
// processes connect: ggml's RPC server serves one client at a time, and the supervisor must not
// hold the device while a worker needs it.
#pragma once

#include <string>
#include <vector>

#include "clinbench/error.h"

namespace clinbench {

inline constexpr const char* kRpcServersEnv = "CLINBENCH_RPC_SERVERS";

// "host:port[,host:port...]" split and checked (a host, a port 1-65535, no empty entries).
Result<std::vector<std::string>> parse_rpc_servers(const std::string& list);

// Parses `list`, checks that each server accepts a TCP connection (within a few seconds) and
// sets CLINBENCH_RPC_SERVERS for this process and its children. Connects no device.
Result<void> use_rpc_servers(const std::string& list);

// Registers CLINBENCH_RPC_SERVERS's devices with ggml once per process (a no-op when it is
// unset). The first call's error is returned to every later call.
Result<void> ensure_rpc_devices();

}  // namespace clinbench
