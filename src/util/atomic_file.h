// Writes a file so that readers see either the old content or the complete new one: a temporary
// file in the same directory ("<name>.tmp.<pid>"), fsync, rename over the target, fsync of the
// directory. Every file clinbench writes goes through here (write_file_atomically in
// clinbench/atomic_file.h for a whole content at once, AtomicFile to stream or to write out of
// order). A writer destroyed before commit() removes its temporary file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "clinbench/atomic_file.h"
#include "clinbench/error.h"

namespace clinbench {

// Errors (kIo) name the target and what failed, with the system's reason.
// Not thread-safe: one thread writes through an AtomicFile.
class AtomicFile {
 public:
  // Creates the temporary file. REQUIRES: the target's directory exists.
  static Result<AtomicFile> create(const std::filesystem::path& target);

  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  // Appends bytes after those appended before (buffered).
  Result<void> append(std::string_view bytes);
  // Writes bytes at offset, unbuffered, without moving where append() writes. For files whose
  // parts are written out of order (a GGUF's header, then its tensors).
  Result<void> write_at(uint64_t offset, std::string_view bytes);
  // Sets the file's size. Bytes never written read as zeros and, on file systems with holes,
  // take no disk space: a file can be made sparse this way.
  Result<void> resize(uint64_t size);
  // Flushes, syncs and renames onto the target, then syncs the directory. The writer is spent
  // afterwards, whether it succeeded or not; on failure the temporary file is removed.
  Result<void> commit();

  const std::filesystem::path& target() const { return target_; }

 private:
  AtomicFile(std::filesystem::path target, std::filesystem::path temp, int fd);
  Result<void> flush();
  Result<void> usable() const;
  // Closes and removes the temporary file (a failed write leaves nothing behind).
  void abandon();

  std::filesystem::path target_;
  std::filesystem::path temp_;
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace clinbench
