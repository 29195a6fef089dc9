// `clinbench __worker SPEC_JSON`: one loading attempt (and its task) in its own process.
// Protocol on file descriptor 3, one JSON object per line: "record {...}" for each record the
// task emits, then "attempt {...}" with the attempt's own record.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "clinbench/plan.h"
#include "clinbench/worker.h"
#include "model/attempt_runner.h"
#include "model/plan_child.h"
#include "run/eval_task.h"

namespace clinbench {

namespace {

void write_line(const std::string& prefix, const nlohmann::json& j) {
  const std::string out =
      prefix + " " + j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::write(3, out.data() + off, out.size() - off);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

}  // namespace

int worker_main(int argc, char** argv) {
  auto fail = [](const std::string& msg) {
    std::fprintf(stderr, "clinbench worker: %s\n", msg.c_str());
    return 2;
  };
  if (argc < 3) return fail("usage: clinbench __worker SPEC_JSON");
  nlohmann::json j = nlohmann::json::parse(argv[2], nullptr, false);
  if (j.is_discarded()) return fail("spec is not JSON");
  auto spec = attempt_spec_from_json(j);
  if (!spec) return fail(spec.error().message);
  auto task = make_task(spec->task, [](const nlohmann::json& r) { write_line("record", r); });
  if (!task) return fail(task.error().message);
  Attempt a = execute_attempt(*spec, *task);
  write_line("attempt", to_json(a));
  ::close(3);
  return a.outcome == Outcome::kOk ? 0 : 1;
}

std::optional<int> run_child_command(int argc, char** argv) {
  startup_address_space();
  if (argc < 2) return std::nullopt;
  const std::string command = argv[1];
  if (command == "__worker") return worker_main(argc, argv);
  if (command == "__plan") return plan_child_main(argc, argv);
  return std::nullopt;
}

}  // namespace clinbench
