// Texts of the submission checks (package_checks.cpp) that write_submission puts in its errors,
// warnings and meta_data.json.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "clinbench/package.h"

namespace clinbench {

// "a, b, c (and 7 more)": the first `shown` entries of the list.
std::string first_of(const std::vector<std::string>& list, size_t shown);

// What a checked coverage lacks: "2 of 8 items missing: no record for 1 (q1); 1 row skipped as
// invalid (val.jsonl:3: ...); the run selected a subset (limit = 3, seed = 5)". At most 20 ids
// and 5 rows are named.
std::string describe_gaps(const Coverage& coverage);

}  // namespace clinbench
