// The one peak-RSS reader: VmHWM grows when memory is touched and, where the kernel allows,
// reset_peak_rss() brings it back down to what is resident now.
#include "util/process_memory.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

namespace clinbench {
namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr size_t kTouch = 256 * kMiB;

// kTouch bytes of anonymous memory, every page written; returned to the system at scope exit.
class Touched {
 public:
  Touched() {
    p_ = ::mmap(nullptr, kTouch, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p_ != MAP_FAILED) std::memset(p_, 1, kTouch);
  }
  ~Touched() {
    if (p_ != MAP_FAILED) ::munmap(p_, kTouch);
  }
  Touched(const Touched&) = delete;
  Touched& operator=(const Touched&) = delete;
  bool ok() const { return p_ != MAP_FAILED; }

 private:
  void* p_ = MAP_FAILED;
};

TEST(ProcessMemory, ReadsThisProcessAndTheHost) {
  EXPECT_GT(current_rss_bytes(), 0u);
  EXPECT_GE(peak_rss_bytes(), current_rss_bytes());
  EXPECT_GT(resident_anon_shmem_bytes(::getpid()), 0u);
  EXPECT_GT(available_host_memory_bytes(), 0u);
  EXPECT_EQ(resident_anon_shmem_bytes(-1), 0u);  // no such process: 0, not measured
}

TEST(ProcessMemory, PeakGrowsWithTouchedMemoryAndStaysAfterItIsFreed) {
  const uint64_t before = current_rss_bytes();
  const uint64_t anon_before = resident_anon_shmem_bytes(::getpid());
  uint64_t during = 0;
  {
    Touched big;
    ASSERT_TRUE(big.ok());
    during = current_rss_bytes();
    EXPECT_GE(during, before + kTouch - 16 * kMiB);
    EXPECT_GE(resident_anon_shmem_bytes(::getpid()), anon_before + kTouch - 16 * kMiB);
    EXPECT_GE(peak_rss_bytes(), during - 16 * kMiB);
  }
  EXPECT_LT(current_rss_bytes(), during - kTouch / 2);  // unmapped: no longer resident
  // The peak remembers. The kernel's RSS counters are batched per CPU, so the peak it kept at
  // the unmap can be a little under what VmRSS read before.
  EXPECT_GE(peak_rss_bytes(), during - 16 * kMiB);
}

TEST(ProcessMemory, ResetBringsThePeakDownToWhatIsResident) {
  {
    Touched big;
    ASSERT_TRUE(big.ok());
  }
  const uint64_t peak = peak_rss_bytes();
  ASSERT_GE(peak, current_rss_bytes() + kTouch / 2);
  if (!reset_peak_rss()) GTEST_SKIP() << "this kernel or container does not allow clear_refs";
  EXPECT_LT(peak_rss_bytes(), peak - kTouch / 2);
  // And it counts again from there.
  Touched again;
  ASSERT_TRUE(again.ok());
  EXPECT_GE(peak_rss_bytes(), kTouch);
}

}  // namespace
}  // namespace clinbench
