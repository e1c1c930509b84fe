#pragma once
// Small structures and file helpers shared by the workflow tests.

#include <nernst/core/structure.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace workflow_test {

/// A file's bytes (empty when it cannot be read): for byte-for-byte comparisons of outputs.
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// Conventional 8-atom LiCl rock-salt cell with lattice constant a (Å).
inline nernst::Structure licl_rock_salt(double a) {
  nernst::Structure s(nernst::Lattice(a * Eigen::Matrix3d::Identity()));
  const double f[4][3] = {{0, 0, 0}, {0, 0.5, 0.5}, {0.5, 0, 0.5}, {0.5, 0.5, 0}};
  for (const auto& p : f) {
    s.add_site(3, Eigen::Vector3d(p[0], p[1], p[2]));
    s.add_site(17, Eigen::Vector3d(p[0] + 0.5, p[1], p[2]));
  }
  return s;
}

}  // namespace workflow_test
