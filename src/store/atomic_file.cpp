#include "store/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace clinbench::store {
namespace {

constexpr size_t kFlushBytes = 1 << 20;

Error io_error(const std::filesystem::path& path, std::string_view doing) {
  return Error{ErrorCode::kIo,
               fmt::format("{}: {}: {}", path.string(), doing, std::strerror(errno))};
}

}  // namespace

AtomicFile::AtomicFile(std::filesystem::path target, std::filesystem::path temp, int fd)
    : target_(std::move(target)), temp_(std::move(temp)), fd_(fd) {}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : target_(std::move(other.target_)),
      temp_(std::move(other.temp_)),
      fd_(std::exchange(other.fd_, -1)),
      buffer_(std::move(other.buffer_)) {}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(temp_.c_str());
  }
}

Result<AtomicFile> AtomicFile::create(const std::filesystem::path& target) {
  std::filesystem::path temp = target;
  temp += fmt::format(".tmp.{}", getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return std::unexpected(io_error(temp, "cannot create"));
  return AtomicFile(target, std::move(temp), fd);
}

Result<void> AtomicFile::flush() {
  size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(io_error(temp_, "cannot write"));
    }
    done += static_cast<size_t>(n);
  }
  buffer_.clear();
  return {};
}

Result<void> AtomicFile::append(std::string_view bytes) {
  if (fd_ < 0) return make_error(ErrorCode::kInternal, target_.string() + ": already committed");
  buffer_.append(bytes);
  if (buffer_.size() >= kFlushBytes) return flush();
  return {};
}

Result<void> AtomicFile::commit() {
  if (fd_ < 0) return make_error(ErrorCode::kInternal, target_.string() + ": already committed");
  if (auto flushed = flush(); !flushed) return flushed;
  if (::fsync(fd_) != 0) return std::unexpected(io_error(temp_, "cannot sync"));
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) {
    Error error = io_error(temp_, "cannot close");
    ::unlink(temp_.c_str());
    return std::unexpected(std::move(error));
  }
  if (std::rename(temp_.c_str(), target_.c_str()) != 0) {
    Error error = io_error(target_, fmt::format("cannot rename {} onto it", temp_.string()));
    ::unlink(temp_.c_str());
    return std::unexpected(std::move(error));
  }
  // The rename is durable once the directory entry is.
  std::filesystem::path dir = target_.parent_path();
  if (dir.empty()) dir = ".";
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return {};
}

Result<void> write_file_atomically(const std::filesystem::path& target, std::string_view content) {
  auto file = AtomicFile::create(target);
  if (!file) return std::unexpected(file.error());
  if (auto appended = file->append(content); !appended) return appended;
  return file->commit();
}

}  // namespace clinbench::store
