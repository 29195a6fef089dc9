// Seeded subsets and shards: deterministic, independent of input order, exact partitions.
#include "clinbench/select.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace clinbench {
namespace {

std::vector<Item> make_items(int n, const std::string& prefix = "item-") {
  std::vector<Item> items;
  for (int i = 0; i < n; ++i) {
    Item item;
    item.id = prefix + std::to_string(i);
    items.push_back(item);
  }
  return items;
}

std::vector<std::string> ids(const std::vector<Item>& items) {
  std::vector<std::string> out;
  for (const Item& i : items) out.push_back(i.id);
  return out;
}

TEST(SelectHash, IsStableAcrossBuildsAndSeeds) {
  // Pinned values: the hash is part of the run format (a seed must select the same items on every
  // machine and in every release).
  EXPECT_EQ(stable_hash("", 0), stable_hash("", 0));
  EXPECT_NE(stable_hash("a", 0), stable_hash("b", 0));
  EXPECT_NE(stable_hash("a", 0), stable_hash("a", 1));
  // Computed independently (FNV-1a 64 over seed bytes and text, splitmix64 finalizer).
  EXPECT_EQ(stable_hash("cb-val-001", 0), 0xfd567047e24c33d3ull);
  EXPECT_EQ(stable_hash("cb-val-001", 7), 0x3f57a20d1fe8552aull);
}

TEST(SelectSubset, IsDeterministicAndKeepsInputOrder) {
  const auto items = make_items(200);
  const auto a = select_subset(items, 20, 7);
  const auto b = select_subset(items, 20, 7);
  ASSERT_EQ(a.size(), 20u);
  EXPECT_EQ(ids(a), ids(b));
  // Input (file) order is kept.
  std::vector<std::size_t> positions;
  for (const Item& item : a) {
    positions.push_back(static_cast<std::size_t>(std::stoi(item.id.substr(5))));
  }
  EXPECT_TRUE(std::is_sorted(positions.begin(), positions.end()));
}

TEST(SelectSubset, DoesNotDependOnInputOrder) {
  const auto items = make_items(300);
  auto shuffled = items;
  std::mt19937_64 rng(42);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  const auto a = ids(select_subset(items, 50, 3));
  const auto b = ids(select_subset(shuffled, 50, 3));
  EXPECT_EQ(std::set<std::string>(a.begin(), a.end()), std::set<std::string>(b.begin(), b.end()));
  // And b is in the shuffled input's order.
  std::vector<std::string> expected;
  const std::set<std::string> chosen(a.begin(), a.end());
  for (const Item& i : shuffled) {
    if (chosen.count(i.id)) expected.push_back(i.id);
  }
  EXPECT_EQ(b, expected);
}

TEST(SelectSubset, SeedsChooseDifferentSubsetsAndLargerLimitsSupersets) {
  const auto items = make_items(500);
  const auto s1 = ids(select_subset(items, 100, 1));
  const auto s2 = ids(select_subset(items, 100, 2));
  EXPECT_NE(s1, s2);
  const auto small = ids(select_subset(items, 30, 1));
  const std::set<std::string> big(s1.begin(), s1.end());
  for (const std::string& id : small) EXPECT_TRUE(big.count(id)) << id;
}

TEST(SelectSubset, LimitAtLeastSizeOrAbsentKeepsEverything) {
  const auto items = make_items(10);
  EXPECT_EQ(ids(select_subset(items, std::nullopt, 5)), ids(items));
  EXPECT_EQ(ids(select_subset(items, 10, 5)), ids(items));
  EXPECT_EQ(ids(select_subset(items, 1000, 5)), ids(items));
  EXPECT_TRUE(select_subset(items, 0, 5).empty());
  EXPECT_TRUE(select_subset({}, 3, 5).empty());
}

TEST(SelectShard, ShardsPartitionItemsExactly) {
  const auto items = make_items(1000, "q");
  for (int count : {1, 2, 3, 7, 16}) {
    std::multiset<std::string> seen;
    std::vector<std::size_t> sizes(static_cast<std::size_t>(count), 0);
    for (const Item& item : items) {
      int owners = 0;
      for (int index = 0; index < count; ++index) {
        if (in_shard(item.id, index, count)) {
          ++owners;
          ++sizes[static_cast<std::size_t>(index)];
          seen.insert(item.id);
        }
      }
      EXPECT_EQ(owners, 1) << item.id << " in " << count << " shards";
    }
    EXPECT_EQ(seen.size(), items.size());
    // Balanced enough: every shard within 35% of the mean for 1000 ids.
    const double mean = 1000.0 / count;
    for (std::size_t s : sizes) {
      EXPECT_GT(static_cast<double>(s), 0.65 * mean) << count;
      EXPECT_LT(static_cast<double>(s), 1.35 * mean) << count;
    }
  }
}

TEST(SelectShard, ParsesIndexOverCount) {
  auto s = parse_shard("0/3");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(*s, std::make_pair(0, 3));
  EXPECT_EQ(*parse_shard("15/16"), std::make_pair(15, 16));
  EXPECT_EQ(*parse_shard("0/1"), std::make_pair(0, 1));
  EXPECT_EQ(format_shard({2, 5}), "2/5");
}

TEST(SelectShard, RejectsBadShardsQuotingTheText) {
  for (const char* bad : {"", "3", "3/3", "4/3", "-1/3", "1/0", "a/3", "1/b", "1/3/5", " 1/3",
                          "1 /3", "0/-2", "1/"}) {
    auto s = parse_shard(bad);
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(s.error().message.find(std::string("'") + bad + "'"), std::string::npos)
        << s.error().message;
  }
  EXPECT_NE(parse_shard("3/3").error().message.find("less than the count"), std::string::npos);
}

}  // namespace
}  // namespace clinbench
