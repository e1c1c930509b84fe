#pragma once
/// \file
/// \brief write_file_durable: replace a file so that a kill or a power cut at any moment leaves
/// either its old or its new content (never a mix), and every failure (disk full, permissions,
/// a missing directory) is an IOError naming the file and the system's reason.
///
/// The sequence: write `<path>.tmp` (created fresh), fsync it, optionally move the current file
/// to `<path>.prev` (checkpoint generations, md/restart.hpp), rename the temporary over `path`,
/// fsync the directory so that the renames themselves survive a power cut. A failure removes the
/// temporary and leaves the old file in place.

#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

NERNST_NAMESPACE_BEGIN

/// Points inside write_file_durable where a test hook is called (see durable_write_hook).
enum class DurableWritePoint {
  opened,        ///< temporary created, nothing written
  half_written,  ///< first half of the data written
  synced,        ///< temporary complete and fsync'ed
  rotated,       ///< old file moved to `.prev` (only when keeping the previous generation)
  renamed        ///< temporary renamed over the file, directory not yet synced
};

/// Test-only hook: called at every DurableWritePoint with the file being written (the final
/// path). A nonzero return is taken as the errno of a failed system call at that point (to
/// inject ENOSPC, EACCES, EIO...); tests may also stall or kill the process from it. Empty
/// in normal runs.
using DurableWriteHook = std::function<int(const std::string& path, DurableWritePoint)>;
inline DurableWriteHook& durable_write_hook() {
  static DurableWriteHook hook;
  return hook;
}

namespace detail {
inline int durable_hook(const std::string& path, DurableWritePoint p) {
  const auto& h = durable_write_hook();
  return h ? h(path, p) : 0;
}

[[noreturn]] inline void throw_io(const std::string& what, const std::string& file, int err) {
  throw IOError(what + " '" + file + "': " + std::strerror(err));
}

/// Writes all of `data` to `fd` (retrying short writes and EINTR); returns 0 or the errno.
inline int write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return 0;
}

/// Creates `tmp` afresh with `data`, fsync'ed. On failure the file is removed and an IOError
/// names it (`hook_path` is the final file, as test hooks see it).
inline void write_synced_file(const std::string& tmp, std::string_view data, const std::string& hook_path) {
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_io("cannot create", tmp, errno);
  const auto fail = [&](const char* what, int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw_io(what, tmp, err);
  };
  const std::size_t half = data.size() / 2;
  int err = durable_hook(hook_path, DurableWritePoint::opened);
  if (!err) err = write_all(fd, data.data(), half);
  if (!err) err = durable_hook(hook_path, DurableWritePoint::half_written);
  if (!err) err = write_all(fd, data.data() + half, data.size() - half);
  if (err) fail("cannot write", err);
  if (::fsync(fd) != 0) fail("cannot sync", errno);
  if (::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw_io("cannot write", tmp, e);
  }
}
}  // namespace detail

/// fsync of a directory, so that a rename inside it is on disk. File systems that cannot sync
/// a directory (EINVAL) are not an error.
inline void fsync_directory(const std::filesystem::path& dir) {
  const std::string d = dir.empty() ? std::string(".") : dir.string();
  const int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) detail::throw_io("cannot open directory", d, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL) detail::throw_io("cannot sync directory", d, err);
}

/// Replaces `path` with `data` durably (see the file comment). With `keep_previous`, an existing
/// `path` first becomes `<path>.prev` (replacing the older one), so that the last two versions
/// exist at every moment except between the two renames, when `.prev` and the complete
/// `.tmp` do. Throws IOError naming the file on any failure; the parent directory must exist.
inline void write_file_durable(const std::filesystem::path& path, std::string_view data, bool keep_previous = false) {
  const std::string file = path.string(), tmp = file + ".tmp";
  detail::write_synced_file(tmp, data, file);
  const auto step = [&](DurableWritePoint p, int rc, const char* what, const std::string& name) {
    const int err = rc != 0 ? errno : detail::durable_hook(file, p);
    if (err) {
      ::unlink(tmp.c_str());
      detail::throw_io(what, name, err);
    }
  };
  step(DurableWritePoint::synced, 0, "cannot write", tmp);
  if (keep_previous && ::access(file.c_str(), F_OK) == 0)
    step(DurableWritePoint::rotated, std::rename(file.c_str(), (file + ".prev").c_str()),
         "cannot keep the previous generation of", file);
  step(DurableWritePoint::renamed, std::rename(tmp.c_str(), file.c_str()), "cannot rename the new version over", file);
  fsync_directory(path.parent_path());
}

NERNST_NAMESPACE_END
