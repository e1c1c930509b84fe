#pragma once
// Helpers for the benchmark drivers: locating ../shared (as tests/test_support.hpp does for tests).

#include <cstdlib>
#include <filesystem>

namespace nernst_bench {

/// The shared verification data directory: $NERNST_SHARED_DIR, else the CMake cache value.
inline std::filesystem::path shared_dir() {
  if (const char* e = std::getenv("NERNST_SHARED_DIR"); e && *e) return e;
  return NERNST_SHARED_DIR_DEFAULT;
}

}  // namespace nernst_bench
