#pragma once
/// \file
/// \brief Standardised conventional and primitive cells of a (possibly disordered) Structure.

#include <nernst/core/error.hpp>
#include <nernst/core/structure.hpp>
#include <nernst/symmetry/detail/spglib_cell.hpp>
#include <nernst/symmetry/symmetry_dataset.hpp>

#include <spglib.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace symmetry {

/// spglib's standardisation of `s`: the conventional cell (to_primitive = false) or the
/// standardised primitive cell (true). With no_idealize = false the lattice is rotated into the
/// standard orientation and positions are symmetrised; with true the input orientation and any
/// small distortions are kept. Sites keep their species, occupancies and oxidation states (one
/// spglib type per distinct set); labels are the element symbol for ordered sites and the input
/// label of the first site of that type otherwise.
inline Structure standardize(const Structure& s, double symprec = default_symprec, bool to_primitive = false,
                             bool no_idealize = false, double angle_tolerance = -1.0) {
  if (!(symprec > 0)) throw ValueError("symmetry: symprec must be positive");
  auto cell = detail::make_cell(s);
  const int n = cell.size();
  // The conventional cell can hold up to 4x the atoms of the input (primitive F-centred input).
  std::vector<std::array<double, 3>> pos(static_cast<std::size_t>(4 * n));
  std::vector<int> types(static_cast<std::size_t>(4 * n));
  std::copy(cell.positions.begin(), cell.positions.end(), pos.begin());
  std::copy(cell.types.begin(), cell.types.end(), types.begin());
  double lat[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) lat[i][j] = cell.lattice[i][j];
  const int m = spgat_standardize_cell(lat, reinterpret_cast<double(*)[3]>(pos.data()), types.data(), n,
                                       to_primitive ? 1 : 0, no_idealize ? 1 : 0, symprec, angle_tolerance);
  if (m <= 0)
    throw ValueError("spglib could not standardise the cell (symprec " + std::to_string(symprec) +
                     " Å): " + detail::spglib_error());

  // Label of each type.
  std::vector<std::string> labels(cell.species.size());
  for (std::size_t t = 0; t < cell.species.size(); ++t) {
    const Site& first = s[cell.first_site[t]];
    if (first.is_ordered()) {
      labels[t] = element_symbol(first.z());
      continue;
    }
    labels[t] = first.label;
  }

  Structure out(Lattice(detail::rows_from_columns(lat)));
  for (int k = 0; k < m; ++k) {
    const std::size_t t = static_cast<std::size_t>(types[k] - 1);
    Site site;
    site.frac = Eigen::Vector3d(pos[k][0], pos[k][1], pos[k][2]);
    site.species = cell.species[t];
    site.label = labels[t];
    out.add_site(std::move(site));
  }
  return out;
}

/// Standardised primitive cell (spglib's find_primitive).
inline Structure find_primitive(const Structure& s, double symprec = default_symprec) {
  return standardize(s, symprec, /*to_primitive=*/true, /*no_idealize=*/false);
}

/// Standardised conventional cell.
inline Structure conventional_cell(const Structure& s, double symprec = default_symprec) {
  return standardize(s, symprec, /*to_primitive=*/false, /*no_idealize=*/false);
}

}  // namespace symmetry
NERNST_NAMESPACE_END
