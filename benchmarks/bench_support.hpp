#pragma once
// Helpers for the benchmark drivers: locating ../shared (as tests/test_support.hpp does for tests)
// and a main() with a Kokkos session.

#include <benchmark/benchmark.h>
#include <nernst/core/kokkos.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

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

/// main() of a benchmark binary with a Kokkos session.
inline int run_benchmarks(int argc, char** argv) {
  nernst::KokkosSession kokkos(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace nernst_bench
