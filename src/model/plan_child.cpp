#include "model/plan_child.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "util/subprocess.h"
#include "util/test_crash.h"

namespace clinbench {

using nlohmann::json;

namespace {

json cells_json(const CellsProbe& c) {
  json convs = json::array();
  for (const auto& conv : c.conversations) {
    json m = json::array();
    for (const auto& msg : conv.messages) m.push_back({msg.role, msg.content});
    convs.push_back({{"messages", std::move(m)}, {"turns", conv.turns}});
  }
  return {{"conversations", std::move(convs)},
          {"max_tokens", c.max_tokens},
          {"reasoning_budget", c.reasoning_budget},
          {"thinking", to_string(c.thinking)},
          {"reserve", c.reserve}};
}

CellsProbe cells_from_json(const json& j) {
  CellsProbe c;
  for (const auto& conv : j.at("conversations")) {
    CellsProbe::Conversation cv;
    for (const auto& m : conv.at("messages")) {
      cv.messages.push_back({m.at(0).get<std::string>(), m.at(1).get<std::string>(), ""});
    }
    cv.turns = conv.at("turns").get<uint32_t>();
    c.conversations.push_back(std::move(cv));
  }
  c.max_tokens = j.at("max_tokens").get<uint32_t>();
  c.reasoning_budget = j.at("reasoning_budget").get<int>();
  c.thinking = thinking_from_string(j.at("thinking").get<std::string>()).value_or(Thinking::kAuto);
  c.reserve = j.at("reserve").get<uint32_t>();
  return c;
}

// The spec goes on the command line, whose arguments Linux caps at 128 KiB each: conversations
// too long for it are not probed (the sequences then get n_ctx cells).
constexpr size_t kMaxSpecBytes = 100 * 1024;

std::string spec_json(const std::string& path, const PlanOptions& o) {
  json j = {{"model_path", path},
            {"n_ctx", o.n_ctx},
            {"n_seq", o.n_seq},
            {"kv_unified", o.kv_unified},
            {"n_batch", o.n_batch},
            {"recipe", o.recipe},
            {"device_budget", o.device_budget ? json(*o.device_budget) : json(nullptr)}};
  json adapters = json::array();
  for (const auto& a : o.adapters) adapters.push_back({{"path", a.path}, {"scale", a.scale}});
  j["adapters"] = std::move(adapters);
  if (!o.cells.conversations.empty()) j["cells"] = cells_json(o.cells);
  std::string out = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (out.size() > kMaxSpecBytes) {
    j.erase("cells");
    out = j.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return out;
}

void write_result(const std::string& kind, const json& j) {
  const std::string out =
      kind + " " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  for (size_t off = 0; off < out.size();) {
    const ssize_t n = ::write(3, out.data() + off, out.size() - off);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

ErrorCode code_from(const std::string& name) {
  for (ErrorCode c : {ErrorCode::kInvalidArgument, ErrorCode::kNotFound, ErrorCode::kIo,
                      ErrorCode::kCorrupt, ErrorCode::kUnsupported, ErrorCode::kResource}) {
    if (name == to_string(c)) return c;
  }
  return ErrorCode::kInternal;
}

}  // namespace

Result<Plan> plan_model_in_child(const ModelInfo& model, const PlanOptions& options) {
  char tmpl[] = "/tmp/clinbench-plan-XXXXXX";
  const char* dir = ::mkdtemp(tmpl);
  SpawnOptions so;
  so.argv = {self_executable(), "__plan", spec_json(model.path, options)};
  so.stderr_path = dir ? std::string(dir) + "/plan.log" : "";
  so.env = child_process_env();
  auto child = run_child(so);
  const std::string log = so.stderr_path.empty() ? "" : tail_file(so.stderr_path, 5);
  if (dir) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  if (!child) return std::unexpected(child.error().with_context(model.path + ": planning"));
  const std::string& line = child->result;
  const auto space = line.find(' ');
  const json j = space == std::string::npos ? json(nullptr)
                                            : json::parse(line.substr(space + 1), nullptr, false);
  const std::string kind = line.substr(0, space);
  if (kind == "plan" && j.is_object()) return plan_from_json(j);
  if (kind == "error" && j.is_object()) {
    return make_error(code_from(j.value("code", "")), j.value("message", ""));
  }
  std::string how = child->signal ? "was killed by " + signal_name(*child->signal)
                                  : fmt::format("exited with code {} without a plan",
                                                child->exit_code.value_or(-1));
  return make_error(ErrorCode::kInternal, fmt::format("{}: the planning process {}{}{}", model.path,
                                                      how, log.empty() ? "" : ": ", log));
}

int plan_child_main(int argc, char** argv) {
  auto fail = [](ErrorCode code, const std::string& message) {
    write_result("error", {{"code", to_string(code)}, {"message", message}});
    return 1;
  };
  if (argc < 3) return fail(ErrorCode::kInvalidArgument, "usage: clinbench __plan SPEC_JSON");
  const json spec = json::parse(argv[2], nullptr, false);
  if (!spec.is_object()) return fail(ErrorCode::kInvalidArgument, "plan spec is not JSON");
  PlanOptions o;
  std::string path;
  try {
    path = spec.at("model_path").get<std::string>();
    o.n_ctx = spec.at("n_ctx").get<uint32_t>();
    o.n_seq = spec.at("n_seq").get<uint32_t>();
    o.kv_unified = spec.at("kv_unified").get<bool>();
    o.n_batch = spec.at("n_batch").get<uint32_t>();
    o.recipe = spec.at("recipe").get<std::string>();
    if (spec.contains("cells")) o.cells = cells_from_json(spec.at("cells"));
    for (const auto& a : spec.at("adapters")) {
      o.adapters.push_back({a.at("path").get<std::string>(), a.at("scale").get<float>()});
    }
    if (!spec.at("device_budget").is_null()) {
      o.device_budget = spec.at("device_budget").get<uint64_t>();
    }
  } catch (const json::exception& e) {
    return fail(ErrorCode::kInvalidArgument, fmt::format("plan spec: {}", e.what()));
  }
  test_crash_hook("plan");
  auto info = read_model_info(path, {.hash = false});
  if (!info) return fail(info.error().code, info.error().message);
  auto plan = plan_model(*info, o);
  if (!plan) return fail(plan.error().code, plan.error().message);
  write_result("plan", to_json(*plan));
  return 0;
}

}  // namespace clinbench
