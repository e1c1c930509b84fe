// run_in_worker_processes: every task runs once, in a child process, at most `jobs` at a time;
// failures are reported by name after the others finished.

#include "../test_support.hpp"

#include <nernst/nn/row_chunks.hpp>
#include <nernst/workflow/worker_processes.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

using namespace nernst;
namespace fs = std::filesystem;

namespace {
fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

/// Each task writes "<pid> <start time µs> <end time µs>" to task<i>.txt after sleeping 100 ms.
void timed_task(const fs::path& dir, std::size_t i) {
  const auto now = [] {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  const auto t0 = now();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::ofstream(dir / ("task" + std::to_string(i) + ".txt")) << ::getpid() << " " << t0 << " " << now() << "\n";
}
}  // namespace

TEST_CASE("worker processes: every task once, in children, never more than `jobs` at a time") {
  const fs::path dir = fresh_dir("nernst_workers");
  const std::size_t n = 6;
  workflow::run_in_worker_processes(
      n, 2, [&](std::size_t i) { timed_task(dir, i); }, [](std::size_t i) { return "task " + std::to_string(i); });
  std::set<long> pids;
  std::vector<std::pair<long long, long long>> spans;
  for (std::size_t i = 0; i < n; ++i) {
    std::ifstream in(dir / ("task" + std::to_string(i) + ".txt"));
    REQUIRE(in.good());
    long pid = 0;
    long long a = 0, b = 0;
    in >> pid >> a >> b;
    CHECK(pid != ::getpid());
    pids.insert(pid);
    spans.emplace_back(a, b);
  }
  CHECK(pids.size() == n);  // one process per task
  // At no task's start were two others running.
  for (const auto& s : spans) {
    int running = 0;
    for (const auto& t : spans)
      if (t.first <= s.first && s.first < t.second) ++running;
    CHECK(running <= 2);
  }
  fs::remove_all(dir);
}

TEST_CASE("worker processes: a failing task is named after the others finished; jobs = 1 runs here") {
  const fs::path dir = fresh_dir("nernst_workers_fail");
  bool threw = false;
  try {
    workflow::run_in_worker_processes(
        4, 2,
        [&](std::size_t i) {
          if (i == 1) throw ValueError("bad input for task 1");
          timed_task(dir, i);
        },
        [](std::size_t i) { return "task " + std::to_string(i); });
  } catch (const Error& e) {
    threw = true;
    const std::string what = e.what();
    CHECK(what.find("task 1") != std::string::npos);
    CHECK(what.find("task 0") == std::string::npos);
  }
  CHECK(threw);
  for (std::size_t i : {0, 2, 3}) CHECK(fs::exists(dir / ("task" + std::to_string(i) + ".txt")));

  // jobs = 1: in this process, exceptions propagate unchanged.
  int ran = 0;
  workflow::run_in_worker_processes(3, 1, [&](std::size_t) { ++ran; }, [](std::size_t) { return std::string(); });
  CHECK(ran == 3);
  CHECK_THROWS_AS(workflow::run_in_worker_processes(
                      2, 1, [](std::size_t) { throw ValueError("x"); }, [](std::size_t) { return std::string(); }),
                  ValueError);
  fs::remove_all(dir);
}

TEST_CASE("worker processes: tasks stopped on request (Interrupted) are reported as stopped, not failed") {
  const fs::path dir = fresh_dir("nernst_workers_stopped");
  const auto name = [](std::size_t i) { return "task " + std::to_string(i); };
  try {
    workflow::run_in_worker_processes(
        3, 2,
        [&](std::size_t i) {
          if (i != 1) throw workflow::Interrupted("stopped as asked");
          timed_task(dir, i);
        },
        name);
    FAIL("expected Interrupted");
  } catch (const workflow::Interrupted& e) {
    const std::string what = e.what();  // in the order the workers ended
    CHECK(what.rfind("worker processes stopped as asked: ", 0) == 0);
    CHECK(what.find("task 0") != std::string::npos);
    CHECK(what.find("task 2") != std::string::npos);
    CHECK(what.find("task 1") == std::string::npos);
  }
  CHECK(fs::exists(dir / "task1.txt"));
  // a failure among them is still a failure (Error, not Interrupted)
  try {
    workflow::run_in_worker_processes(
        2, 2,
        [](std::size_t i) {
          if (i == 0) throw workflow::Interrupted("stopped as asked");
          throw ValueError("bad input");
        },
        name);
    FAIL("expected an error");
  } catch (const workflow::Interrupted&) {
    FAIL("a failed task must not be reported as stopped");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("task 1") != std::string::npos);
  }
  fs::remove_all(dir);
}

TEST_CASE("worker processes: children run Kokkos kernels and row chunks after the parent used its threads") {
  // With a threaded Kokkos (OpenMP) a forked child cannot use the parent's thread pool; before
  // the one-thread region of run_forked_child this hung in the child's first kernel.
  const fs::path dir = fresh_dir("nernst_workers_kokkos");
  const auto sum_to = [](int n) {
    long long s = 0;
    Kokkos::parallel_reduce(
        "test::sum", Kokkos::RangePolicy<Kokkos::DefaultHostExecutionSpace>(0, n),
        [](const int i, long long& acc) { acc += i; }, s);
    return s;
  };
  REQUIRE(sum_to(100000) == 4999950000LL);  // the parent's pool is started
  workflow::run_in_worker_processes(
      4, 2,
      [&](std::size_t i) {
        nn::RowChunks chunks;
        chunks.split(10000, nn::host_threads(), 16);
        std::vector<long long> part(static_cast<std::size_t>(chunks.size()), 0);
        chunks.run([&](int c, Eigen::Index r0, Eigen::Index r1) {
          for (Eigen::Index r = r0; r < r1; ++r) part[static_cast<std::size_t>(c)] += r;
        });
        long long s = 0;
        for (auto p : part) s += p;
        std::ofstream(dir / ("task" + std::to_string(i) + ".txt")) << sum_to(100000) << " " << s << " "
                                                                   << nn::host_threads() << "\n";
      },
      [](std::size_t i) { return "task " + std::to_string(i); });
  for (int i = 0; i < 4; ++i) {
    std::ifstream in(dir / ("task" + std::to_string(i) + ".txt"));
    REQUIRE(in.good());
    long long a = 0, b = 0;
    int threads = 0;
    in >> a >> b >> threads;
    CHECK(a == 4999950000LL);
    CHECK(b == 49995000LL);
  }
  fs::remove_all(dir);
}
