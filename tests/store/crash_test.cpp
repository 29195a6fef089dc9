// SIGKILL at any moment: a child records items in a loop and reports each committed one on a
// pipe; the parent kills it at a chosen point, reopens the run directory and checks that the
// database is intact, that every reported item is there exactly once with its content, that the
// item the child was writing is simply absent, and that a resumed run completes the set.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <random>
#include <string>

#include "clinbench/store.h"
#include "store_test_util.h"

namespace clinbench {
namespace {

using store_test::sample_item;
using store_test::ScratchDir;

struct KillPoint {
  int after_commits;   // wait for this many reported commits (0: kill while opening)
  int delay_us;        // then this long
  size_t trace_bytes;  // padding of each item's trace: larger items make longer transactions
  bool sync_each_item = false;
};

void PrintTo(const KillPoint& k, std::ostream* os) {
  *os << "after " << k.after_commits << " commits + " << k.delay_us << " us, trace "
      << k.trace_bytes << " B" << (k.sync_each_item ? ", synchronous=FULL" : "");
}

[[noreturn]] void writer_child(const std::filesystem::path& run_dir, int report_fd,
                               size_t trace_bytes, bool sync_each_item) {
  auto store = RunStore::open(run_dir, RunStoreOptions{.sync_each_item = sync_each_item});
  if (!store) {
    std::fprintf(stderr, "child: %s\n", store.error().message.c_str());
    _exit(2);
  }
  for (int i = 0; i < 1000000; ++i) {
    auto recorded = store->record_item(sample_item("m", "d", i, trace_bytes));
    if (!recorded) {
      std::fprintf(stderr, "child: %s\n", recorded.error().message.c_str());
      _exit(3);
    }
    if (write(report_fd, &i, sizeof(i)) != sizeof(i)) _exit(4);
  }
  _exit(0);
}

// Reads one reported item index; false at end of file.
bool read_report(int fd, int* index) {
  size_t got = 0;
  char* out = reinterpret_cast<char*>(index);
  while (got < sizeof(*index)) {
    const ssize_t n = read(fd, out + got, sizeof(*index) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

// Kills a writer at the given point and checks the run directory.
void kill_and_check(const KillPoint& point) {
  SCOPED_TRACE(::testing::PrintToString(point));
  ScratchDir dir;
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    writer_child(dir.run_dir(), pipe_fds[1], point.trace_bytes, point.sync_each_item);
  }
  close(pipe_fds[1]);

  int acknowledged = 0;
  int index = 0;
  while (acknowledged < point.after_commits && read_report(pipe_fds[0], &index)) {
    ASSERT_EQ(index, acknowledged);
    ++acknowledged;
  }
  ASSERT_EQ(acknowledged, point.after_commits) << "the writer stopped early";
  if (point.delay_us > 0) usleep(static_cast<useconds_t>(point.delay_us));
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the writer was not killed but exited with " << WEXITSTATUS(status);
  // Commits reported between the decision to kill and the kill itself.
  while (read_report(pipe_fds[0], &index)) {
    ASSERT_EQ(index, acknowledged);
    ++acknowledged;
  }
  close(pipe_fds[0]);

  auto store = RunStore::open(dir.run_dir());
  ASSERT_TRUE(store) << store.error().message;
  auto integrity = store->integrity_check();
  ASSERT_TRUE(integrity) << integrity.error().message;

  auto items = store->items();
  ASSERT_TRUE(items) << items.error().message;
  const int found = static_cast<int>(items->size());
  // Every acknowledged commit survived; at most one more committed before its report was sent.
  EXPECT_GE(found, acknowledged);
  EXPECT_LE(found, acknowledged + 1);
  for (int i = 0; i < found; ++i) {
    ItemRecord expected = sample_item("m", "d", i, point.trace_bytes);
    const ItemRecord& got = (*items)[static_cast<size_t>(i)];
    EXPECT_EQ(got.seq, i + 1);
    expected.seq = got.seq;
    expected.finished_at = got.finished_at;
    EXPECT_TRUE(got == expected) << "item " << i << " differs from what was written";
  }
  // The item being written when the child died is absent, not half there.
  auto next = store->item("m", "d", fmt::format("q{:05d}", found));
  ASSERT_TRUE(next);
  EXPECT_FALSE(next->has_value());

  // Resume: skip the finished keys, record the rest; every item ends up there exactly once.
  const int total = found + 5;
  auto keys = store->finished_keys("m", "d");
  ASSERT_TRUE(keys);
  EXPECT_EQ(static_cast<int>(keys->size()), found);
  for (int i = 0; i < total; ++i) {
    ItemRecord r = sample_item("m", "d", i, point.trace_bytes);
    if (keys->contains(r.item_id)) {
      EXPECT_FALSE(store->record_item(r)) << "a finished item was recorded twice";
      continue;
    }
    auto recorded = store->record_item(r);
    ASSERT_TRUE(recorded) << recorded.error().message;
  }
  EXPECT_EQ(*store->item_count(), total);
  EXPECT_EQ(store->finished_keys("m", "d")->size(), static_cast<size_t>(total));
  EXPECT_TRUE(store->integrity_check());
}

class StoreCrash : public ::testing::TestWithParam<KillPoint> {};

TEST_P(StoreCrash, EveryCommittedItemSurvivesExactlyOnce) { kill_and_check(GetParam()); }

constexpr size_t kKiB = 1024;
INSTANTIATE_TEST_SUITE_P(
    StoreKillPoints, StoreCrash,
    ::testing::Values(KillPoint{0, 0, 0},                     // while creating the schema
                      KillPoint{0, 2000, 0},                  // during open or the first items
                      KillPoint{1, 0, 0},                     // right after the first commit
                      KillPoint{1, 0, 0, true},               //   with synchronous=FULL
                      KillPoint{3, 150, 256 * kKiB},          // inside a mid-size transaction
                      KillPoint{3, 150, 256 * kKiB, true},    //   with synchronous=FULL
                      KillPoint{10, 0, 1024 * kKiB},          // large items: WAL writes and
                      KillPoint{10, 700, 1024 * kKiB},        //   checkpoints
                      KillPoint{40, 50, 64 * kKiB},           //
                      KillPoint{5, 2000, 4096 * kKiB},        // a 4 MiB item being written
                      KillPoint{5, 2000, 4096 * kKiB, true},  //   with synchronous=FULL
                      KillPoint{200, 0, 0}));                 // many small items

// Random kill points, seeded so that a failure can be replayed.
TEST(StoreCrash, RandomKillPoints) {
  std::mt19937 rng(20250131);
  std::uniform_int_distribution<int> commits(0, 30);
  std::uniform_int_distribution<int> delay(0, 3000);
  const size_t sizes[] = {0, 4 * kKiB, 128 * kKiB, 1024 * kKiB};
  std::uniform_int_distribution<size_t> size_index(0, std::size(sizes) - 1);
  for (int round = 0; round < 12; ++round) {
    const KillPoint point{commits(rng), delay(rng), sizes[size_index(rng)], round % 2 == 1};
    kill_and_check(point);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace clinbench
