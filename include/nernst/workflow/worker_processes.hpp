#pragma once
/// \file
/// \brief `run_in_worker_processes`: independent tasks (e.g. the MD of each temperature) run
/// concurrently in forked child processes, at most `jobs` at a time.
///
/// Why processes and not threads: a pipeline's temperatures share nothing but the run
/// directory, every stage already writes its results to files (the resumable StageRunner), and
/// a process per temperature needs no thread safety from the potential, the Kokkos back end
/// (Debian's Kokkos is Serial-only, and its Serial instance is not meant to be entered from two
/// host threads at once) or the observers. The parent collects the finished stages afterwards
/// exactly as a resumed run does, so a worker's result is bit-identical to running its task
/// alone in the parent.
///
/// Threads: a child is a fork of the parent and inherits none of its threads. GNU OpenMP is not
/// fork-safe (a child's first parallel region with the parent's team size waits forever for
/// threads that were never copied), so each child runs its task inside a one-thread OpenMP
/// region: Kokkos' OpenMP back end then sees itself nested and runs every kernel of the child
/// serially, and the graph networks' row chunks collapse to one. One core per child is what this
/// pool is for (tasks ≥ cores); threads inside one task are for the jobs = 1 case.

#include <nernst/core/error.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/core/one_thread.hpp>
#include <nernst/workflow/stage.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <map>
#include <string>
#include <vector>

// Kokkos' C++-threads back end keeps a pool of std::threads that a forked child cannot use and
// cannot be told to bypass: with it, the tasks run one after another in the parent.
#if (defined(__unix__) || defined(__APPLE__)) && !defined(KOKKOS_ENABLE_THREADS)
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#define NERNST_HAVE_FORK 1
#else
#define NERNST_HAVE_FORK 0
#endif

NERNST_NAMESPACE_BEGIN
namespace workflow {

/// Runs f() on the calling thread alone (core/one_thread.hpp): what a forked worker runs in.
using nernst::on_one_thread;

namespace detail {
/// Exit status of a worker stopped on request (Interrupted; sysexits' EX_TEMPFAIL).
inline constexpr int interrupted_status = 75;

/// The body of a forked child: task(i) with its errors reported, on one thread (see the file
/// comment); returns the exit status.
template <class Task, class Name>
int run_forked_child(Task& task, Name& name, std::size_t i) {
  int rc = 0;
  auto body = [&] {
    try {
      task(i);
    } catch (const Interrupted& e) {  // stopped on request: told apart from failures by its status
      std::cerr << "\n" << name(i) << ": " << e.what() << "\n";
      rc = interrupted_status;
    } catch (const std::exception& e) {
      std::cerr << "\n" << name(i) << ": error: " << e.what() << "\n";
      rc = 1;
    } catch (...) {
      std::cerr << "\n" << name(i) << ": unknown error\n";
      rc = 1;
    }
  };
  on_one_thread(body);
  std::cout << std::flush;
  std::cerr << std::flush;
  std::fflush(nullptr);
  return rc;
}
}  // namespace detail

/// Runs task(i) for i = 0..n−1. With jobs ≤ 1, n ≤ 1 or no fork() on this platform the tasks run
/// here, one after another. Otherwise each runs in a child process, at most `jobs` at once; a
/// task's outputs must be files (nothing returns to the parent). Returns when every task has
/// ended; throws Error naming the tasks that failed (exception, crash or kill: their
/// messages went to stderr) after all others finished. `name(i)` labels task i in messages.
template <class Task, class Name>
void run_in_worker_processes(std::size_t n, int jobs, Task&& task, Name&& name) {
#if NERNST_HAVE_FORK
  if (jobs > 1 && n > 1) {
    std::map<pid_t, std::size_t> running;
    std::vector<std::string> failed, stopped;
    std::size_t next = 0;
    std::cout << std::flush;
    std::cerr << std::flush;
    std::fflush(nullptr);  // nothing buffered may be written twice (by parent and child)
    const auto wait_one = [&] {
      int status = 0;
      pid_t pid = -1;
      do pid = ::waitpid(-1, &status, 0);
      while (pid < 0 && errno == EINTR);
      if (pid < 0) throw Error("worker processes: waitpid failed");
      const auto it = running.find(pid);
      if (it == running.end()) return;
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (WIFEXITED(status) && WEXITSTATUS(status) == detail::interrupted_status) {
        stopped.push_back(name(it->second));
      } else if (!ok) {
        std::string why = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                              : "exit status " + std::to_string(WEXITSTATUS(status));
        failed.push_back(name(it->second) + " (" + why + ")");
      }
      running.erase(it);
    };
    while (next < n || !running.empty()) {
      if (next < n && running.size() < static_cast<std::size_t>(jobs)) {
        const std::size_t i = next++;
        const pid_t pid = ::fork();
        if (pid < 0) {  // no more workers: let the running ones finish, then report
          failed.push_back(name(i) + " and later tasks (fork failed)");
          next = n;
          continue;
        }
        if (pid == 0) ::_exit(detail::run_forked_child(task, name, i));  // no atexit handlers, no Kokkos::finalize: the parent owns those
        running.emplace(pid, i);
        continue;
      }
      wait_one();
    }
    const auto joined = [](const std::vector<std::string>& v) {
      std::string list;
      for (const auto& f : v) list += (list.empty() ? "" : ", ") + f;
      return list;
    };
    if (!failed.empty())
      throw Error("worker processes failed: " + joined(failed) + " (rerun to resume; finished work is kept)");
    if (!stopped.empty()) throw Interrupted("worker processes stopped as asked: " + joined(stopped));
    return;
  }
#else
  (void)jobs;
  (void)name;
#endif
  for (std::size_t i = 0; i < n; ++i) task(i);
}

}  // namespace workflow
NERNST_NAMESPACE_END
