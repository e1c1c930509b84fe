#pragma once
// Helpers of the MACE mathematics tests: reference files and random unit vectors.

#include "../json_support.hpp"
#include "../test_support.hpp"

#include <filesystem>
#include <random>
#include <string>

namespace nernst_test {

inline std::filesystem::path mace_models_dir() { return shared_dir() / "models" / "mace-random"; }

inline std::filesystem::path mace_reference_file(const std::string& model, const std::string& structure) {
  return shared_dir() / "reference" / "mace" / model / (structure + ".json");
}

/// A random vector with components uniform in [-2, 2] (never near zero length in practice).
inline void random_vector(std::mt19937_64& rng, double r[3]) {
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  for (int k = 0; k < 3; ++k) r[k] = u(rng);
}

}  // namespace nernst_test
