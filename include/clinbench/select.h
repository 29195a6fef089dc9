// Which items a run evaluates: a seeded subset of a dataset (the seed pipeline's 100-item
// development runs) and a shard of it (`--shard I/N`, for Slurm job arrays and Kubernetes Indexed
// Jobs).
//
// Both depend only on item ids and the seed, never on the order of the input, the platform or the
// standard library, so every machine and every shard of a run agree on them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "clinbench/error.h"
#include "clinbench/item.h"

namespace clinbench {

// The stable 64-bit hash both selections use: FNV-1a 64 over the 8 bytes of `seed` (little-endian)
// followed by the bytes of `text`, then the splitmix64 finalizer so every bit of the result depends
// on every input byte. Part of the run format: changing it changes which items a seed or a shard
// selects.
uint64_t stable_hash(std::string_view text, uint64_t seed = 0);

// The items of a `limit`-item subset for `seed`: the `limit` items with the smallest
// stable_hash(id, seed) (ties by id), returned in input order. All items, in input order, when
// limit is nullopt or not smaller than the number of items. The chosen set depends only on the ids,
// the seed and the limit, not on the order of `items`; a larger limit with the same seed selects a
// superset. REQUIRES: ids unique (the dataset readers guarantee it).
std::vector<Item> select_subset(const std::vector<Item>& items, std::optional<std::size_t> limit,
                                uint64_t seed);

// True when the item belongs to shard `index` of `count`: stable_hash(item_id) % count == index.
// For any count the shards 0..count-1 partition every set of ids exactly.
// REQUIRES: 0 <= index < count.
bool in_shard(const std::string& item_id, int index, int count);

// Parses "I/N" (zero-based index I, shard count N, 0 <= I < N, N >= 1), e.g. "0/3". Errors
// (kInvalidArgument) quote the text and say what was expected.
Result<std::pair<int, int>> parse_shard(std::string_view text);

// "I/N".
std::string format_shard(const std::pair<int, int>& shard);

}  // namespace clinbench
