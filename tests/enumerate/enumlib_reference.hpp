#pragma once
// Reading the enumlib lattices of ../shared/reference/enumeration/derivative_structure_counts.json
// into a Multilattice; shared by tests/enumerate and benchmarks/bench_enumerate.cpp (no doctest here).

#include <nernst/enumerate/enumerator.hpp>

#include <nlohmann/json.hpp>

#include <numeric>
#include <vector>

namespace nernst_test {

/// The lattice entry `lat` (vectors_rows, basis_cartesian) as a Multilattice in which every site
/// allows all `n_labels` labels.
inline nernst::enumerate::Multilattice lattice_from_ref(const nlohmann::json& lat, int n_labels) {
  Eigen::Matrix3d rows;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) rows(i, j) = lat["vectors_rows"][i][j].get<double>();
  nernst::enumerate::Multilattice m;
  m.lattice = nernst::Lattice(rows);
  for (const auto& b : lat["basis_cartesian"]) {
    const Eigen::Vector3d c(b[0].get<double>(), b[1].get<double>(), b[2].get<double>());
    m.frac.push_back(m.lattice.to_frac(c));
    std::vector<int> all(static_cast<std::size_t>(n_labels));
    std::iota(all.begin(), all.end(), 0);
    m.allowed.push_back(all);
  }
  m.n_labels = n_labels;
  return m;
}

}  // namespace nernst_test
