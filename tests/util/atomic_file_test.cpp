// The one atomic-write helper: whole files, streamed files, files written out of order (sparse),
// and what a failure leaves behind (the old file, no temporary, an error naming the target).
#include "util/atomic_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "test_util.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;
using testing::read_file;
using testing::ScratchDir;
using testing::write_file;

// Names in dir holding ".tmp." (a temporary file left behind).
std::vector<std::string> temporaries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".tmp.") != std::string::npos) out.push_back(name);
  }
  return out;
}

// The error message of `write` run in a child process after `setup` (which may drop privileges
// or lower limits without touching this process); "" when the write succeeded.
std::string error_in_child(const std::function<void()>& setup,
                           const std::function<Result<void>()>& write) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    setup();
    auto r = write();
    const std::string msg = r ? "" : r.error().message;
    ssize_t ignored = ::write(fds[1], msg.data(), msg.size());
    (void)ignored;
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string msg;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;) msg.append(buf, n);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  return msg;
}

TEST(AtomicFile, WritesANewFileAndReplacesAnOldOne) {
  ScratchDir dir;
  const fs::path target = dir.file("out.json");
  ASSERT_TRUE(write_file_atomically(target, "first"));
  EXPECT_EQ(read_file(target), "first");
  ASSERT_TRUE(write_file_atomically(target, "second, longer than the first"));
  EXPECT_EQ(read_file(target), "second, longer than the first");
  ASSERT_TRUE(write_file_atomically(target, ""));
  EXPECT_EQ(read_file(target), "");
  EXPECT_TRUE(temporaries(dir.path()).empty());
}

TEST(AtomicFile, StreamsMoreThanItsBuffer) {
  ScratchDir dir;
  const fs::path target = dir.file("big.jsonl");
  std::string expected;
  auto file = AtomicFile::create(target);
  ASSERT_TRUE(file) << file.error().message;
  for (int i = 0; i < 40000; ++i) {
    const std::string line = std::to_string(i) + std::string(60, 'x') + "\n";
    expected += line;
    ASSERT_TRUE(file->append(line));
  }
  EXPECT_FALSE(fs::exists(target));  // nothing visible before commit
  ASSERT_TRUE(file->commit());
  EXPECT_GT(expected.size(), 2u << 20);
  EXPECT_EQ(read_file(target), expected);
  EXPECT_TRUE(temporaries(dir.path()).empty());
  // Spent: a second commit is a programming error reported as such.
  auto again = file->commit();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kInternal);
}

TEST(AtomicFile, WritesOutOfOrderAndKeepsHolesSparse) {
  ScratchDir dir;
  const fs::path target = dir.file("model.gguf");
  constexpr uint64_t kSize = 64ull << 20;
  auto file = AtomicFile::create(target);
  ASSERT_TRUE(file);
  ASSERT_TRUE(file->write_at(0, "HEAD"));
  ASSERT_TRUE(file->resize(kSize));
  ASSERT_TRUE(file->write_at(kSize - 4, "TAIL"));
  ASSERT_TRUE(file->write_at(4096, "mid"));
  ASSERT_TRUE(file->commit());
  const std::string content = read_file(target);
  ASSERT_EQ(content.size(), kSize);
  EXPECT_EQ(content.substr(0, 4), "HEAD");
  EXPECT_EQ(content.substr(4096, 3), "mid");
  EXPECT_EQ(content.substr(kSize - 4), "TAIL");
  EXPECT_EQ(content.substr(1 << 20, 8), std::string(8, '\0'));
  struct stat st {};
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  // Holes take no blocks on every file system a scratch directory is likely on (tmpfs, ext4,
  // xfs, btrfs, overlayfs over them).
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 1ull << 20) << "the file is not sparse";
}

TEST(AtomicFile, AbandonedWriterLeavesTheOldFile) {
  ScratchDir dir;
  const fs::path target = dir.file("out.txt");
  write_file(target, "old");
  {
    auto file = AtomicFile::create(target);
    ASSERT_TRUE(file);
    ASSERT_TRUE(file->append("new"));
    ASSERT_TRUE(file->write_at(100, "more"));
    EXPECT_EQ(temporaries(dir.path()).size(), 1u);
  }
  EXPECT_TRUE(temporaries(dir.path()).empty());
  EXPECT_EQ(read_file(target), "old");
}

TEST(AtomicFile, MissingDirectoryIsAnErrorNamingTheTarget) {
  ScratchDir dir;
  const fs::path target = dir.file("no/such/dir/out.svg");
  auto w = write_file_atomically(target, "x");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, ErrorCode::kIo);
  EXPECT_TRUE(w.error().message.starts_with(target.string() + ": cannot create "))
      << w.error().message;
  EXPECT_NE(w.error().message.find("No such file or directory"), std::string::npos)
      << w.error().message;
}

TEST(AtomicFile, DirectoryInTheWayIsAnErrorAndLeavesNoTemporary) {
  ScratchDir dir;
  const fs::path target = dir.file("occupied");
  fs::create_directories(target / "child");
  auto w = write_file_atomically(target, "x");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, ErrorCode::kIo);
  EXPECT_TRUE(w.error().message.starts_with(target.string() + ": cannot rename "))
      << w.error().message;
  EXPECT_TRUE(temporaries(dir.path()).empty());
  EXPECT_TRUE(fs::is_directory(target / "child"));
}

TEST(AtomicFile, ReadOnlyDirectoryIsAClearErrorAndKeepsTheOldFile) {
  ScratchDir dir;
  const fs::path ro = dir.file("ro");
  fs::create_directory(ro);
  const fs::path target = ro / "results.json";
  write_file(target, "old content");
  fs::permissions(dir.path(), fs::perms(0755));
  fs::permissions(ro, fs::perms(0555));
  // root writes anywhere: the write runs as nobody then, for whom the directory is read-only.
  const std::string msg = error_in_child(
      [] {
        if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(3);
      },
      [&] { return write_file_atomically(target, "new content"); });
  fs::permissions(ro, fs::perms(0755));
  EXPECT_EQ(msg.rfind(target.string() + ": cannot create " + target.string() + ".tmp.", 0), 0u)
      << msg;
  EXPECT_NE(msg.find("Permission denied"), std::string::npos) << msg;
  EXPECT_EQ(read_file(target), "old content");
  EXPECT_TRUE(temporaries(ro).empty());
}

TEST(AtomicFile, FailedWriteKeepsTheOldFileAndRemovesTheTemporary) {
  ScratchDir dir;
  const fs::path target = dir.file("figure.svg");
  write_file(target, "old");
  // A file-size limit makes write() fail as a full disk would (EFBIG rather than ENOSPC).
  const std::string msg = error_in_child(
      [] {
        ::signal(SIGXFSZ, SIG_IGN);
        const rlimit small{1024, 1024};
        ::setrlimit(RLIMIT_FSIZE, &small);
      },
      [&] { return write_file_atomically(target, std::string(4096, 'x')); });
  EXPECT_EQ(msg, target.string() + ": cannot write: File too large");
  EXPECT_EQ(read_file(target), "old");
  EXPECT_TRUE(temporaries(dir.path()).empty());
}

}  // namespace
}  // namespace clinbench
