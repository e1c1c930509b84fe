#pragma once
// Helpers for the benchmark drivers: locating ../shared (as tests/test_support.hpp does for tests)
// and a main() with a Kokkos session.

#include <benchmark/benchmark.h>
#include <nernst/core/kokkos.hpp>

#include <cstdlib>
#include <filesystem>

namespace nernst_bench {

/// The shared verification data directory: $NERNST_SHARED_DIR, else the CMake cache value.
inline std::filesystem::path shared_dir() {
  if (const char* e = std::getenv("NERNST_SHARED_DIR"); e && *e) return e;
  return NERNST_SHARED_DIR_DEFAULT;
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
