// Small header-only POSIX helpers shared by Sysfs, Msr, Perf and the sampler: an owning fd,
// EINTR-safe pread, and the integer parsers for sysfs text.
#pragma once

#ifndef _FILE_OFFSET_BITS
#define _FILE_OFFSET_BITS 64
#endif

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <utility>

namespace splitwatt {

static_assert(sizeof(off_t) >= 8, "64-bit off_t is required (MSR registers are offsets past 2 GiB)");

/** Owning file descriptor (closed on destruction). */
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  /** Give up ownership without closing. */
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

/** open(2) retrying on EINTR; returns -1 with errno set on failure. */
inline int OpenRetry(const char* path, int flags) {
  int fd;
  do {
    fd = ::open(path, flags);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

/** pread(2) retrying on EINTR. */
inline ssize_t PreadRetry(int fd, void* buf, size_t len, off_t offset) {
  ssize_t n;
  do {
    n = ::pread(fd, buf, len, offset);
  } while (n < 0 && errno == EINTR);
  return n;
}

/** read(2) retrying on EINTR. */
inline ssize_t ReadRetry(int fd, void* buf, size_t len) {
  ssize_t n;
  do {
    n = ::read(fd, buf, len);
  } while (n < 0 && errno == EINTR);
  return n;
}

/** Skip leading blanks; true when the text holds no digits at all (empty sysfs value). */
inline const char* SkipBlanks(const char* s) {
  while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') ++s;
  return s;
}

/**
 * Parse a NUL-terminated unsigned decimal as written by sysfs ("123456\n").
 * Returns 0 or an errno: ENODATA when empty, EINVAL when not a number, ERANGE on overflow.
 */
inline int ParseU64(const char* text, uint64_t* out) {
  const char* s = SkipBlanks(text);
  if (*s == '\0') return ENODATA;
  if (*s < '0' || *s > '9') return EINVAL;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno == ERANGE) return ERANGE;
  if (*SkipBlanks(end) != '\0') return EINVAL;
  *out = static_cast<uint64_t>(v);
  return 0;
}

/** Signed variant of ParseU64 (power readings may be slightly negative on shunt monitors). */
inline int ParseI64(const char* text, int64_t* out) {
  const char* s = SkipBlanks(text);
  if (*s == '\0') return ENODATA;
  if (!((*s >= '0' && *s <= '9') || *s == '-' || *s == '+')) return EINVAL;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s, &end, 10);
  if (errno == ERANGE) return ERANGE;
  if (end == s || *SkipBlanks(end) != '\0') return EINVAL;
  *out = static_cast<int64_t>(v);
  return 0;
}

}  // namespace splitwatt
