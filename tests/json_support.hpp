#pragma once
// JSON helpers for tests that read reference files: reading a file and building a System from
// a reference structure's lattice, symbols and Cartesian positions.

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <nernst/core/system.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace nernst_test {

inline nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  REQUIRE_MESSAGE(in.good(), "cannot open " << p);
  return nlohmann::json::parse(in);
}

/// A System from JSON arrays: `lattice` (3x3 rows), `species` (symbols), `positions` (Cartesian Å,
/// used exactly as stored).
inline nernst::System<> system_from_json(const nlohmann::json& lattice, const nlohmann::json& species,
                                         const nlohmann::json& positions) {
  Eigen::Matrix3d L;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) L(i, j) = lattice[i][j].get<double>();
  std::vector<int> z;
  std::vector<Eigen::Vector3d> x;
  for (std::size_t i = 0; i < positions.size(); ++i) {
    z.push_back(nernst::atomic_number(species[i].get<std::string>()));
    x.emplace_back(positions[i][0].get<double>(), positions[i][1].get<double>(), positions[i][2].get<double>());
  }
  return nernst::System<>::from_cartesian(nernst::Lattice(L), z, x);
}

}  // namespace nernst_test
