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
/// Caveat: a child is a fork of the parent. With a threaded Kokkos (OpenMP) the parent must not
/// have started its thread pool in a way the child cannot use; each child here runs its task on
/// one core, which is what this pool is for (tasks ≥ cores).

#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#define NERNST_HAVE_FORK 1
#else
#define NERNST_HAVE_FORK 0
#endif

NERNST_NAMESPACE_BEGIN
namespace workflow {

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
    std::vector<std::string> failed;
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
      if (!ok) {
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
        if (pid == 0) {
          int rc = 0;
          try {
            task(i);
          } catch (const std::exception& e) {
            std::cerr << "\n" << name(i) << ": error: " << e.what() << "\n";
            rc = 1;
          } catch (...) {
            std::cerr << "\n" << name(i) << ": unknown error\n";
            rc = 1;
          }
          std::cout << std::flush;
          std::cerr << std::flush;
          std::fflush(nullptr);
          ::_exit(rc);  // no atexit handlers, no Kokkos::finalize in the child: the parent owns those
        }
        running.emplace(pid, i);
        continue;
      }
      wait_one();
    }
    if (!failed.empty()) {
      std::string list;
      for (const auto& f : failed) list += (list.empty() ? "" : ", ") + f;
      throw Error("worker processes failed: " + list + " (rerun to resume; finished work is kept)");
    }
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
