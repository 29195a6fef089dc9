// run.db's schema: recognizing a clinbench run database, its version, and migrating it.
//
// Layout: schema_version holds one row per migration applied (version, applied_at); the
// current version is the largest. Migration N (1-based) is kMigrations[N - 1], applied in its
// own transaction together with its schema_version row, so a process killed mid-migration leaves
// the previous version intact. PRAGMA application_id marks the file as clinbench's.
#pragma once

#include <sqlite3.h>

#include <string>

#include "clinbench/error.h"

namespace clinbench::store {

// 'CLNB'.
inline constexpr int kApplicationId = 0x434C4E42;

// Reads the database without writing to it and returns its schema version: 0 for a new, empty
// database. kCorrupt when the file is not a SQLite database or not a clinbench run database;
// kUnsupported when its version is newer than this build's.
Result<int> inspect_schema(sqlite3* db, const std::string& file);

// Applies the migrations after from_version. REQUIRES: inspect_schema returned from_version.
Result<void> migrate(sqlite3* db, const std::string& file, int from_version);

}  // namespace clinbench::store
