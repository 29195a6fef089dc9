#include "util/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace clinbench {
namespace {

constexpr size_t kFlushBytes = 1 << 20;

// "target: doing: reason", the reason from errno (read before anything else can change it).
Error io_error(const std::filesystem::path& target, std::string_view doing) {
  return Error{ErrorCode::kIo,
               fmt::format("{}: {}: {}", target.string(), doing, std::strerror(errno))};
}

Result<void> write_all(int fd, const char* data, size_t n, const std::filesystem::path& target) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(io_error(target, "cannot write"));
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return {};
}

}  // namespace

AtomicFile::AtomicFile(std::filesystem::path target, std::filesystem::path temp, int fd)
    : target_(std::move(target)), temp_(std::move(temp)), fd_(fd) {}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : target_(std::move(other.target_)),
      temp_(std::move(other.temp_)),
      fd_(std::exchange(other.fd_, -1)),
      buffer_(std::move(other.buffer_)) {}

AtomicFile::~AtomicFile() { abandon(); }

void AtomicFile::abandon() {
  if (fd_ < 0) return;
  ::close(std::exchange(fd_, -1));
  ::unlink(temp_.c_str());
}

Result<AtomicFile> AtomicFile::create(const std::filesystem::path& target) {
  std::filesystem::path temp = target;
  temp += fmt::format(".tmp.{}", ::getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return std::unexpected(io_error(target, fmt::format("cannot create {}", temp.string())));
  }
  return AtomicFile(target, std::move(temp), fd);
}

Result<void> AtomicFile::usable() const {
  if (fd_ < 0) return make_error(ErrorCode::kInternal, target_.string() + ": already committed");
  return {};
}

Result<void> AtomicFile::flush() {
  auto written = write_all(fd_, buffer_.data(), buffer_.size(), target_);
  buffer_.clear();
  return written;
}

Result<void> AtomicFile::append(std::string_view bytes) {
  if (auto ok = usable(); !ok) return ok;
  buffer_.append(bytes);
  if (buffer_.size() >= kFlushBytes) return flush();
  return {};
}

Result<void> AtomicFile::write_at(uint64_t offset, std::string_view bytes) {
  if (auto ok = usable(); !ok) return ok;
  const char* p = bytes.data();
  size_t n = bytes.size();
  while (n > 0) {
    const ssize_t w = ::pwrite(fd_, p, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(io_error(target_, fmt::format("cannot write at offset {}", offset)));
    }
    p += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return {};
}

Result<void> AtomicFile::resize(uint64_t size) {
  if (auto ok = usable(); !ok) return ok;
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    return std::unexpected(io_error(target_, fmt::format("cannot set the size to {} bytes", size)));
  }
  return {};
}

Result<void> AtomicFile::commit() {
  if (auto ok = usable(); !ok) return ok;
  auto fail = [&](std::string_view doing) {
    Error error = io_error(target_, doing);
    abandon();
    return std::unexpected(std::move(error));
  };
  if (auto flushed = flush(); !flushed) {
    abandon();
    return flushed;
  }
  if (::fsync(fd_) != 0) return fail("cannot sync");
  // A failed close can report a write the kernel deferred (NFS): the content is not trusted.
  if (::close(std::exchange(fd_, -1)) != 0) {
    Error error = io_error(target_, "cannot close");
    ::unlink(temp_.c_str());
    return std::unexpected(std::move(error));
  }
  if (std::rename(temp_.c_str(), target_.c_str()) != 0) {
    Error error = io_error(target_, fmt::format("cannot rename {} onto it", temp_.string()));
    ::unlink(temp_.c_str());
    return std::unexpected(std::move(error));
  }
  // The rename is durable once the directory entry is. The new content is in place already, so
  // only a failed sync is reported: a directory this process may write but not read cannot be
  // opened to sync it, and some file systems cannot sync a directory at all (EINVAL).
  std::filesystem::path dir = target_.parent_path();
  if (dir.empty()) dir = ".";
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return {};
  const int synced = ::fsync(dir_fd);
  const int sync_errno = errno;
  ::close(dir_fd);
  if (synced != 0 && sync_errno != EINVAL && sync_errno != ENOTSUP) {
    errno = sync_errno;
    return std::unexpected(io_error(target_, fmt::format("cannot sync {}", dir.string())));
  }
  return {};
}

Result<void> write_file_atomically(const std::filesystem::path& target, std::string_view content) {
  auto file = AtomicFile::create(target);
  if (!file) return std::unexpected(file.error());
  if (auto appended = file->append(content); !appended) return appended;
  return file->commit();
}

}  // namespace clinbench
