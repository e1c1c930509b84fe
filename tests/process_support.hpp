#pragma once
// Child processes for the crash tests: run a job in a fork, optionally kill -9 it after a delay,
// and get back how it ended and the message of the error it stopped with.

#include <sys/types.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <thread>

namespace nernst_test {

struct ChildResult {
  bool killed = false;     ///< ended by SIGKILL (ours or its own)
  bool finished = false;   ///< f() returned
  std::string error;       ///< what() of the exception f() threw, if any
  int status = 0;          ///< raw wait status
};

/// Runs f() in a forked child. With kill_after_s >= 0 the parent sends SIGKILL after that many
/// seconds unless the child ended first. Doctest assertions must not be used inside f().
template <class F>
ChildResult run_in_child(F&& f, double kill_after_s = -1) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  std::cout << std::flush;
  std::cerr << std::flush;
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::close(fds[0]);
    int rc = 0;
    try {
      f();
    } catch (const std::exception& e) {
      const std::string m = e.what();
      (void)!::write(fds[1], m.data(), m.size());
      rc = 3;
    } catch (...) {
      rc = 4;
    }
    std::fflush(nullptr);
    ::_exit(rc);
  }
  ::close(fds[1]);
  ChildResult r;
  if (kill_after_s >= 0) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(kill_after_s);
    while (std::chrono::steady_clock::now() < until && ::waitpid(pid, &r.status, WNOHANG) == 0)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    ::kill(pid, SIGKILL);  // no effect on a child that already ended (a zombie until reaped)
  }
  ::waitpid(pid, &r.status, 0);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) r.error.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  r.killed = WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGKILL;
  r.finished = WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
  return r;
}

}  // namespace nernst_test
