#pragma once
// Helpers for tests: locating ../shared and the repository's small test data.

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>

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

/// A fresh, uniquely named directory under the system temp directory for a test's scratch files,
/// removed with everything in it when the object goes out of scope (keep one per test case, or a
/// function-local static for a whole test executable).
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "nernst_test") {
    std::mt19937_64 rng(std::random_device{}() ^
                        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
    const auto base = std::filesystem::temp_directory_path();
    for (int attempt = 0; attempt < 100; ++attempt) {
      auto p = base / (prefix + "_" + std::to_string(rng() % 1000000000ULL));
      if (std::filesystem::create_directory(p)) {  // false: the name is taken, draw again
        path_ = std::move(p);
        return;
      }
    }
    throw std::runtime_error("TempDir: cannot create a unique directory under " + base.string());
  }
  ~TempDir() {
    std::error_code ec;  // never throw from a destructor; a leftover directory is harmless
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  /// Path of a file `name` inside the directory, as a string.
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace nernst_test

/// Use at the top of a test case that reads ../shared.
#define NERNST_REQUIRE_SHARED_DATA() \
  do {                               \
    if (!nernst_test::have_shared()) return; \
  } while (0)
