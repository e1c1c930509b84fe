#pragma once
// Helpers for tests: locating ../shared and the repository's small test data.

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace nernst_test {

/// The shared verification data directory: $NERNST_SHARED_DIR, else the CMake cache value.
inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("NERNST_SHARED_DIR"); env && *env) return env;
  return NERNST_SHARED_DIR_DEFAULT;
}

/// True when the shared data exists. In CI (NERNST_REQUIRE_SHARED) its absence fails the test;
/// in a user's build it skips the test with a message.
inline bool have_shared() {
  const bool ok = std::filesystem::exists(shared_dir() / "README.md");
#ifdef NERNST_REQUIRE_SHARED
  if (!ok) FAIL("shared data not found at " << shared_dir() << " (set NERNST_SHARED_DIR)");
#else
  if (!ok) MESSAGE("skipping: shared data not found at " << shared_dir() << " (set NERNST_SHARED_DIR)");
#endif
  return ok;
}

/// Small committed test inputs under tests/data.
inline std::filesystem::path data_dir() { return NERNST_TEST_DATA_DIR; }

}  // namespace nernst_test

/// Use at the top of a test case that reads ../shared.
#define NERNST_REQUIRE_SHARED_DATA() \
  do {                               \
    if (!nernst_test::have_shared()) return; \
  } while (0)
