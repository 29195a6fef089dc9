// The paths that used to drop their errors, through the CLI on the real stories260K model: a
// run directory that cannot be written, a disk that fills up mid-run (RLIMIT_FSIZE), a worker
// whose pipe to the supervisor is closed. Each error is reported (one line naming what failed)
// and nothing already stored is lost: the run resumes and finishes every item exactly once.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "clinbench/hash.h"
#include "clinbench/store.h"
#include "test_util.h"
#include "worker/protocol.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;

// 40 MMLU anatomy questions, scored by log-likelihood (no generation: fast).
std::string dataset() {
  return std::string(CLINBENCH_SHARED_DIR) + "/data/mmlu-medical/test/anatomy_test.csv";
}

std::vector<std::string> run_args(const std::string& out, int limit) {
  return {testing::clinbench_binary(),
          "run",
          "--model",
          testing::stories_model(),
          "--dataset",
          dataset(),
          "--limit",
          std::to_string(limit),
          "--scoring",
          "loglik",
          "--ctx",
          "1024",
          "--out",
          out};
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The stored items' ids, failing the test on a duplicate.
std::set<std::string> stored_ids(const std::string& run_dir) {
  auto store = RunStore::open_for_reading(run_dir);
  EXPECT_TRUE(store) << store.error().message;
  if (!store) return {};
  auto items = store->items();
  EXPECT_TRUE(items) << items.error().message;
  std::set<std::string> ids;
  for (const auto& r : *items) EXPECT_TRUE(ids.insert(r.item_id).second) << r.item_id;
  return ids;
}

std::string only_line(const std::string& err) {
  std::string last;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("clinbench: ", 0) == 0) last = line;
  }
  return last;
}

TEST(RunErrors, AFullDiskStopsTheRunWithTheErrorAndLosesNothingStored) {
  testing::ScratchDir dir;
  const std::string out = dir.file("run");
  auto first = testing::run_command(run_args(out, 2));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(stored_ids(out).size(), 2u);

  // Room for the write-ahead log to take a few more items, not 38: every file the run writes
  // (run.db, its WAL) may grow to this size only; a write beyond fails with EFBIG, which SQLite
  // reports as a full disk. SIGXFSZ is ignored so that the write fails instead of killing.
  const auto db_size = fs::file_size(fs::path(out) / "run.db");
  const uint64_t limit_kib = (db_size + 48 * 1024) / 1024 + 1;
  std::string cmd = fmt::format("trap '' XFSZ; ulimit -f {}; exec", limit_kib);
  for (const auto& a : run_args(out, 40)) cmd += " " + shell_quote(a);
  auto full = testing::run_command({"bash", "-c", cmd});
  EXPECT_NE(full.exit_code, 0) << full.err;
  EXPECT_EQ(full.signal, 0);
  const std::string line = only_line(full.err);
  // The model, the file and what failed, on one line: SQLite says "disk I/O error" for EFBIG
  // ("database or disk is full" for ENOSPC).
  EXPECT_NE(line.find("model 'stories260K'"), std::string::npos) << full.err;
  EXPECT_NE(line.find("run.db"), std::string::npos) << full.err;
  EXPECT_NE(line.find("disk"), std::string::npos) << full.err;
  const auto kept = stored_ids(out);
  EXPECT_GE(kept.size(), 2u);
  EXPECT_LT(kept.size(), 40u) << "the limit never bit: the test proves nothing";

  // Without the limit the same command finishes the rest, each item once.
  auto resumed = testing::run_command(run_args(out, 40));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.out.find(fmt::format("{} resumed", kept.size())), std::string::npos)
      << resumed.out;
  EXPECT_EQ(stored_ids(out).size(), 40u);
}

TEST(RunErrors, AReadOnlyRunDirectoryIsAClearErrorAndIsLeftAsItWas) {
  testing::ScratchDir dir;
  const std::string out = dir.file("run");
  auto first = testing::run_command(run_args(out, 2));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const auto db = sha256_file((fs::path(out) / "run.db").string());
  const auto samples = testing::read_file(out + "/samples.jsonl");
  ASSERT_TRUE(db);

  // Read-only for whoever resumes it: root ignores permission bits, so as root the resume runs
  // as nobody, for whom the root-owned directory is read-only; anyone else loses write access.
  std::vector<std::string> argv = run_args(out, 4);
  if (::geteuid() == 0) {
    fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_read |
                                    fs::perms::group_exec | fs::perms::others_read |
                                    fs::perms::others_exec);
    argv.insert(argv.begin(),
                {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"});
  } else {
    for (const auto& e : fs::recursive_directory_iterator(out)) {
      fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::remove);
    }
    fs::permissions(out, fs::perms::owner_write, fs::perm_options::remove);
  }
  auto ro = testing::run_command(argv);
  if (::geteuid() != 0) fs::permissions(out, fs::perms::owner_write, fs::perm_options::add);
  EXPECT_EQ(ro.exit_code, 3) << ro.err;
  EXPECT_EQ(ro.signal, 0);
  const std::string line = only_line(ro.err);
  EXPECT_NE(line.find(out), std::string::npos) << ro.err;
  EXPECT_NE(line.find("ermission denied"), std::string::npos) << ro.err;
  auto db_after = sha256_file((fs::path(out) / "run.db").string());
  ASSERT_TRUE(db_after);
  EXPECT_EQ(*db_after, *db);
  EXPECT_EQ(testing::read_file(out + "/samples.jsonl"), samples);
}

TEST(RunErrors, AWorkerWhosePipeIsClosedReportsItInsteadOfDroppingRecords) {
  testing::ScratchDir dir;
  const std::string items_path = dir.file("items.jsonl");
  Item item;
  item.id = "q1";
  item.question = "Which bone is in the arm?";
  item.options = {{"A", "Femur"}, {"B", "Humerus"}};
  item.answer = "B";
  ASSERT_TRUE(write_items_file(items_path, {{"d", item}}));
  WorkerSpec spec;
  spec.attempt.model_path = testing::stories_model();
  spec.attempt.strategy = Strategy::kCpu;
  spec.attempt.n_ctx = 512;
  spec.attempt.warmup.enabled = false;
  EvalSettings settings;
  settings.decoding.scoring = Scoring::kLoglik;
  spec.eval = EvalJob{items_path, "m", settings};

  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  // The supervisor is gone before the worker has anything to say: no process holds the read
  // end from the start (closing it after the fork raced a fast worker on a loaded machine).
  ::close(fds[0]);
  const std::string err_path = dir.file("worker.err");
  const std::string spec_text = encode_spec(spec);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(fds[1], 3);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(err, 2);
    const std::string bin = testing::clinbench_binary();
    ::execl(bin.c_str(), bin.c_str(), "__worker", spec_text.c_str(), nullptr);
    ::_exit(127);
  }
  ::close(fds[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(testing::read_file(err_path).find("cannot send to the supervisor (fd 3): Broken pipe"),
            std::string::npos)
      << testing::read_file(err_path);
}

}  // namespace
}  // namespace clinbench
