// RunStore's private state, shared by run_store.cpp and store_export.cpp.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "clinbench/store.h"
#include "store/run_lock.h"
#include "store/sqlite_db.h"

namespace clinbench {

struct RunStore::Impl {
  std::filesystem::path run_dir;
  std::string file;  // run.db, as named in error messages
  // Declared before db so that db is closed first and the lock released last.
  std::optional<store::RunLock> lock;  // none for a store opened for reading
  store::SqliteHandle db;

  // Calls fn for each item matching query, in items() order, without holding them all.
  Result<void> for_each_item(const ItemQuery& query,
                             const std::function<Result<void>(const ItemRecord&)>& fn) const;
};

}  // namespace clinbench
