#pragma once
// Helpers for the benchmark drivers: locating ../shared (as tests/test_support.hpp does for tests)
// a main() with a Kokkos session, and thread-count arguments for scaling benchmarks.

#include <benchmark/benchmark.h>
#include <nernst/core/kokkos.hpp>
#include <nernst/nn/row_chunks.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

namespace nernst_bench {

/// The shared verification data directory: $NERNST_SHARED_DIR, else the CMake cache value.
inline std::filesystem::path shared_dir() {
  if (const char* e = std::getenv("NERNST_SHARED_DIR"); e && *e) return e;
  return NERNST_SHARED_DIR_DEFAULT;
}

/// Resident set of this process now (bytes, /proc/self/statm).
inline double resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  double pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

/// Peak resident set of this process so far (bytes; Linux reports ru_maxrss in kilobytes).
inline double peak_resident_bytes() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024.0;
}

/// Runs the benchmarks registered so far, as selected on the command line (after a Kokkos session
/// has started: registration may depend on its thread count).
inline int run_specified(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

/// main() of a benchmark binary with a Kokkos session.
inline int run_benchmarks(int argc, char** argv) {
  nernst::KokkosSession kokkos(argc, argv);
  return run_specified(argc, argv);
}

/// Thread counts 1, 2, 4, ..., all of Kokkos' host threads (call inside a Kokkos session).
inline std::vector<int> thread_counts() {
  const int max_threads = nernst::nn::host_threads();
  std::vector<int> counts;
  for (int t = 1; t < max_threads; t *= 2) counts.push_back(t);
  counts.push_back(max_threads);
  return counts;
}

/// Apply()-able: one benchmark per thread count, wall-clock time in ms.
inline void thread_args(benchmark::internal::Benchmark* b) {
  for (int t : thread_counts()) b->Arg(t);
  b->UseRealTime()->Unit(benchmark::kMillisecond);
}

}  // namespace nernst_bench
