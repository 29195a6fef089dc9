// Whether something accepts TCP connections at host:port: a connection opened and closed at once.
#pragma once

#include <string>

#include "clinbench/error.h"

namespace clinbench {

// Connects to host:port within timeout_ms and closes the connection. The error (kNotFound) says
// why not: "cannot resolve 'HOST': ..." or "cannot connect: REASON" (refused, no answer).
Result<void> tcp_connect_check(const std::string& host, const std::string& port, int timeout_ms);

}  // namespace clinbench
