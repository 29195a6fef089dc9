// Seeded subsets and shards by stable hashes of item ids (include/clinbench/select.h).
#include "clinbench/select.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <charconv>

namespace clinbench {

uint64_t stable_hash(std::string_view text, uint64_t seed) {
  constexpr uint64_t kFnvOffset = 14695981039346656037ull;
  constexpr uint64_t kFnvPrime = 1099511628211ull;
  uint64_t h = kFnvOffset;
  for (int i = 0; i < 8; ++i) {
    h ^= (seed >> (8 * i)) & 0xffu;
    h *= kFnvPrime;
  }
  for (unsigned char c : text) {
    h ^= c;
    h *= kFnvPrime;
  }
  // splitmix64 finalizer: FNV-1a's low bits alone mix poorly, and shards use h % count.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

std::vector<Item> select_subset(const std::vector<Item>& items, std::optional<std::size_t> limit,
                                uint64_t seed) {
  if (!limit || *limit >= items.size()) return items;
  struct Ranked {
    uint64_t hash;
    std::size_t index;
  };
  std::vector<Ranked> ranked;
  ranked.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    ranked.push_back({stable_hash(items[i].id, seed), i});
  }
  auto by_rank = [&](const Ranked& a, const Ranked& b) {
    if (a.hash != b.hash) return a.hash < b.hash;
    return items[a.index].id < items[b.index].id;
  };
  std::nth_element(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(*limit),
                   ranked.end(), by_rank);
  ranked.resize(*limit);
  std::sort(ranked.begin(), ranked.end(),
            [](const Ranked& a, const Ranked& b) { return a.index < b.index; });
  std::vector<Item> out;
  out.reserve(ranked.size());
  for (const Ranked& r : ranked) out.push_back(items[r.index]);
  return out;
}

bool in_shard(const std::string& item_id, int index, int count) {
  assert(count >= 1 && index >= 0 && index < count);
  return stable_hash(item_id) % static_cast<uint64_t>(count) == static_cast<uint64_t>(index);
}

Result<std::pair<int, int>> parse_shard(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("invalid shard '{}': {} (expected I/N with 0 <= I < N, e.g. "
                                  "0/4 for the first of four shards)",
                                  text, why));
  };
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) return bad("no '/'");
  auto parse_int = [](std::string_view part, int* value) {
    if (part.empty()) return false;
    const char* end = part.data() + part.size();
    auto [ptr, ec] = std::from_chars(part.data(), end, *value);
    return ec == std::errc() && ptr == end;
  };
  int index = 0;
  int count = 0;
  if (!parse_int(text.substr(0, slash), &index)) return bad("the index is not an integer");
  if (!parse_int(text.substr(slash + 1), &count)) return bad("the count is not an integer");
  if (count < 1) return bad("the count must be at least 1");
  if (index < 0) return bad("the index must not be negative");
  if (index >= count) {
    return bad(fmt::format("the index must be less than the count (0..{})", count - 1));
  }
  return std::pair<int, int>{index, count};
}

std::string format_shard(const std::pair<int, int>& shard) {
  return fmt::format("{}/{}", shard.first, shard.second);
}

}  // namespace clinbench
