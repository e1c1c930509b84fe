#pragma once
/// \file
/// \brief RunLock: one writer per run directory.
///
/// A run takes an exclusive advisory lock (flock) on `<dir>/nernst.lock` for as long as the
/// RunLock lives and writes its PID, host and start time into the file. The kernel drops the
/// lock when the process ends however it ends (kill -9, a node crash ending the job), so a
/// killed run never leaves a stale lock: the file may stay, the lock does not. A second
/// process on the same directory fails at once with RunDirectoryLocked naming the holder.
/// Forked worker processes (worker_processes.hpp) share their parent's lock. Readers (reports,
/// `nernst msd` on a trajectory) take no lock and work on a running directory.
///
/// flock works on local file systems and, on Linux ≥ 2.6.12, on NFS (emulated with POSIX
/// byte-range locks); on file systems without locking the lock cannot be taken and the
/// error says so.

#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>
#include <utility>

NERNST_NAMESPACE_BEGIN
namespace workflow {

/// Another process holds the run directory's lock.
class RunDirectoryLocked : public IOError {
 public:
  using IOError::IOError;
};

class RunLock {
 public:
  /// The lock file of a run directory.
  static std::filesystem::path lock_file(const std::filesystem::path& dir) { return dir / "nernst.lock"; }

  /// Creates `dir` when needed and locks it; throws RunDirectoryLocked when another process
  /// holds it (naming its PID and host), IOError when the lock file cannot be created.
  explicit RunLock(const std::filesystem::path& dir) : path_(lock_file(dir).string()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw IOError("cannot create the run directory '" + dir.string() + "': " + ec.message());
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw IOError("cannot create the lock file '" + path_ + "': " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd_);
      fd_ = -1;
      if (err == EWOULDBLOCK) throw RunDirectoryLocked(locked_message(dir));
      throw IOError("cannot lock '" + path_ + "': " + std::strerror(err) +
                    " (the file system may not support file locks)");
    }
    record_holder();
  }
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  RunLock(RunLock&& o) noexcept : path_(std::move(o.path_)), fd_(std::exchange(o.fd_, -1)) {}
  RunLock& operator=(RunLock&&) = delete;
  ~RunLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock; the file stays (removing it would race)
  }

  /// What the lock file says about its last holder ("pid 123 on host x since ..."), without
  /// locking: for messages and read-only status reports. Empty when there is no lock file.
  static std::string holder(const std::filesystem::path& dir) {
    const std::string p = lock_file(dir).string();
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    char buf[512];
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    std::string s(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
  }

 private:
  static std::string locked_message(const std::filesystem::path& dir) {
    std::string who = holder(dir);
    if (who.empty()) who = "a process that has not yet written its PID";
    return "run directory '" + dir.string() + "' is in use by another nernst run (" + who +
           "); only one run may write a directory. Wait for it to finish or stop it (kill that PID on that "
           "host), then run the same command again; reports and analyses of the directory work meanwhile. "
           "Lock file: '" + lock_file(dir).string() + "'";
  }

  /// Writes "pid P on host H since T" into the (locked) file.
  void record_holder() {
    char host[256] = "unknown";
    if (::gethostname(host, sizeof host) != 0) std::strcpy(host, "unknown");
    host[sizeof host - 1] = '\0';
    char when[64] = "";
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    if (::gmtime_r(&t, &tm)) std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    const std::string s = "pid " + std::to_string(::getpid()) + " on host " + host + " since " + when + "\n";
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, s.data(), s.size(), 0) != static_cast<ssize_t>(s.size())) {
      const int err = errno;
      ::close(fd_);
      fd_ = -1;
      throw IOError("cannot write the lock file '" + path_ + "': " + std::strerror(err));
    }
  }

  std::string path_;
  int fd_ = -1;
};

}  // namespace workflow
NERNST_NAMESPACE_END
