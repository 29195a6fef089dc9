// `clinbench __worker SPEC`: one loading attempt (and its task) in its own process, speaking the
// protocol of worker/protocol.h on file descriptor 3.
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <string>

#include "clinbench/plan.h"
#include "clinbench/worker.h"
#include "model/attempt_runner.h"
#include "model/plan_child.h"
#include "worker/eval_task.h"
#include "worker/protocol.h"

namespace clinbench {

namespace {

constexpr int kProtocolFd = 3;

// Writes one message and its newline; an error when the supervisor cannot get it (the pipe is
// closed: the supervisor died or stopped listening).
Result<void> send(const WorkerMessage& message) {
  const std::string out = encode_message(message) + "\n";
  size_t off = 0;
  while (off < out.size()) {
    const ssize_t n = ::write(kProtocolFd, out.data() + off, out.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return make_error(ErrorCode::kIo, fmt::format("cannot send to the supervisor (fd {}): {}",
                                                    kProtocolFd, std::strerror(errno)));
    }
    off += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

int worker_main(int argc, char** argv) {
  auto fail = [](const std::string& msg) {
    std::fprintf(stderr, "clinbench worker: %s\n", msg.c_str());
    return 2;
  };
  if (argc < 3) return fail("usage: clinbench __worker SPEC_JSON");
  // A closed pipe is an error of write(), reported, not a signal that ends the worker silently.
  std::signal(SIGPIPE, SIG_IGN);
  auto spec = decode_spec(argv[2]);
  if (!spec) return fail(spec.error().message);
  AfterLoad after_load;
  auto energy = std::make_shared<nlohmann::json>();
  if (spec->eval) {
    auto items = read_items_file(spec->eval->items_path);
    if (!items) return fail(items.error().message);
    after_load = make_eval_task(
        std::move(*items), spec->eval->model, spec->eval->settings,
        [](const ItemRecord& r) { return send(RecordMessage{r}); }, energy);
  }
  Attempt a = execute_attempt(spec->attempt, after_load);
  a.energy = *energy;
  if (auto sent = send(AttemptMessage{a}); !sent) return fail(sent.error().message);
  ::close(kProtocolFd);
  return a.outcome == Outcome::kOk ? 0 : 1;
}

std::optional<int> run_child_command(int argc, char** argv) {
  startup_address_space();
  if (argc < 2) return std::nullopt;
  const std::string command = argv[1];
  if (command != "__worker" && command != "__plan") return std::nullopt;
  // An exception that escapes is a bug; the supervisor sees the exit code and this line in the
  // worker's log tail.
  try {
    return command == "__worker" ? worker_main(argc, argv) : plan_child_main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "clinbench %s: internal error: %s\n", argv[1], e.what());
  }
  return 4;
}

}  // namespace clinbench
