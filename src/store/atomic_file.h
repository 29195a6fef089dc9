// Writes a file so that readers see either the old content or the complete new one: a temporary
// file in the same directory ("<name>.tmp.<pid>"), fsync, rename over the target, fsync of the
// directory. A writer destroyed before commit() removes its temporary file.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "clinbench/error.h"

namespace clinbench::store {

class AtomicFile {
 public:
  // Creates the temporary file. REQUIRES: the target's directory exists.
  static Result<AtomicFile> create(const std::filesystem::path& target);

  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  Result<void> append(std::string_view bytes);
  // Flushes, syncs and renames onto the target. The writer is spent afterwards.
  Result<void> commit();

 private:
  AtomicFile(std::filesystem::path target, std::filesystem::path temp, int fd);
  Result<void> flush();

  std::filesystem::path target_;
  std::filesystem::path temp_;
  int fd_ = -1;
  std::string buffer_;
};

// Writes the whole content atomically.
Result<void> write_file_atomically(const std::filesystem::path& target, std::string_view content);

}  // namespace clinbench::store
