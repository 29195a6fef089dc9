// The run directory lock: a second RunStore on the same directory, in this process or another,
// gets a clear error naming the directory and the holder's PID; the lock dies with its holder.
#include "store/run_lock.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "clinbench/store.h"
#include "store_test_util.h"

namespace clinbench {
namespace {

using store_test::read_file;
using store_test::sample_item;
using store_test::ScratchDir;

TEST(StoreLock, SecondOpenInTheSameProcessIsRefused) {
  ScratchDir dir;
  auto first = RunStore::open(dir.run_dir());
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(first->record_item(sample_item("m", "d", 1)));

  auto second = RunStore::open(dir.run_dir());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kResource);
  const std::string& message = second.error().message;
  EXPECT_NE(message.find(dir.run_dir().string()), std::string::npos) << message;
  EXPECT_NE(message.find("process " + std::to_string(getpid())), std::string::npos) << message;
  EXPECT_NE(message.find("this process"), std::string::npos) << message;

  // The refused open did not disturb the holder.
  ASSERT_TRUE(first->record_item(sample_item("m", "d", 2)));
  EXPECT_EQ(*first->item_count(), 2);

  // Moving the store keeps the lock; destroying it releases the lock.
  RunStore moved = std::move(*first);
  EXPECT_FALSE(RunStore::open(dir.run_dir()));
  { RunStore gone = std::move(moved); }
  auto third = RunStore::open(dir.run_dir());
  ASSERT_TRUE(third) << third.error().message;
  EXPECT_EQ(*third->item_count(), 2);
  EXPECT_TRUE(third->integrity_check());
}

TEST(StoreLock, AnotherProcessHoldingTheLockIsNamedAndItsDeathReleasesIt) {
  ScratchDir dir;
  int ready[2];
  int hold[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(hold), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    close(hold[1]);
    auto store = RunStore::open(dir.run_dir());
    char status = store && store->record_item(sample_item("child", "d", 1)) ? 'R' : 'E';
    (void)!write(ready[1], &status, 1);
    char ignored;
    (void)!read(hold[0], &ignored, 1);  // blocks until the parent closes its end or kills us
    _exit(0);
  }
  close(ready[1]);
  close(hold[0]);
  char status = 0;
  ASSERT_EQ(read(ready[0], &status, 1), 1);
  ASSERT_EQ(status, 'R');

  const std::string db_before = read_file(RunPaths::db(dir.run_dir()));
  auto refused = RunStore::open(dir.run_dir());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kResource);
  const std::string& message = refused.error().message;
  EXPECT_NE(message.find(dir.run_dir().string()), std::string::npos) << message;
  EXPECT_NE(message.find("process " + std::to_string(child)), std::string::npos) << message;
  EXPECT_EQ(message.find("this process"), std::string::npos) << message;
  // The refused process never touched run.db.
  EXPECT_EQ(read_file(RunPaths::db(dir.run_dir())), db_before);

  ASSERT_EQ(kill(child, SIGKILL), 0);
  int wait_status = 0;
  ASSERT_EQ(waitpid(child, &wait_status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(wait_status));
  close(ready[0]);
  close(hold[1]);

  auto reopened = RunStore::open(dir.run_dir());
  ASSERT_TRUE(reopened) << reopened.error().message;
  EXPECT_TRUE(reopened->integrity_check());
  EXPECT_EQ(*reopened->item_count(), 1);
  EXPECT_EQ(read_file(RunPaths::lock(dir.run_dir())), std::to_string(getpid()) + "\n");
}

TEST(StoreLock, ExecutedChildrenDoNotInheritTheLock) {
  ScratchDir dir;
  auto store = RunStore::open(dir.run_dir());
  ASSERT_TRUE(store);
  // A shell started by the holder lists its open descriptors; the lock file must not be among
  // them, or a worker outliving the supervisor would keep the run directory locked.
  const std::string lock = RunPaths::lock(dir.run_dir()).string();
  const std::string command =
      "for f in /proc/$$/fd/*; do readlink \"$f\"; done | grep -qxF '" + lock + "'";
  const int rc = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 1) << "the lock descriptor leaked into an exec'd child";
}

}  // namespace
}  // namespace clinbench

namespace clinbench {
namespace {

// A report of a run still going: a reader opens the directory without its lock, sees the items
// committed so far, cannot write, and learns who holds the directory.
TEST(StoreReading, AReaderSeesARunningWritersItemsAndCannotWrite) {
  ScratchDir dir;
  EXPECT_FALSE(store::lock_holder(dir.run_dir()).has_value());  // no directory yet
  auto writer = RunStore::open(dir.run_dir());
  ASSERT_TRUE(writer) << writer.error().message;
  ASSERT_TRUE(writer->record_item(sample_item("m", "d", 1)));
  ASSERT_EQ(store::lock_holder(dir.run_dir()), std::optional<pid_t>(getpid()));

  auto reader = RunStore::open_for_reading(dir.run_dir());
  ASSERT_TRUE(reader) << reader.error().message;
  auto items = reader->items();
  ASSERT_TRUE(items) << items.error().message;
  EXPECT_EQ(items->size(), 1u);
  // Each query sees what was committed when it started.
  ASSERT_TRUE(writer->record_item(sample_item("m", "d", 2)));
  EXPECT_EQ(*reader->item_count(), 2);
  // Nothing can be written through it, and the writer's items are untouched.
  EXPECT_FALSE(reader->record_item(sample_item("m", "d", 3)));
  EXPECT_FALSE(reader->set_metadata("k", 1));
  EXPECT_EQ(*writer->item_count(), 2);

  writer = make_error(ErrorCode::kInternal, "closed");  // the run ends
  EXPECT_FALSE(store::lock_holder(dir.run_dir()).has_value());
  EXPECT_EQ(*reader->item_count(), 2);
  // A finished run reads the same, and a writer can open it again while a reader is open.
  auto again = RunStore::open(dir.run_dir());
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again->item_count(), 2);
}

TEST(StoreReading, ReadingADirectoryWithoutARunCreatesNothing) {
  ScratchDir dir;
  auto reader = RunStore::open_for_reading(dir.run_dir());
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().code, ErrorCode::kNotFound);
  EXPECT_NE(reader.error().message.find("no run.db"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.run_dir()));
}

}  // namespace
}  // namespace clinbench
