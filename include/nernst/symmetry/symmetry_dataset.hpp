#pragma once
/// \file
/// \brief get_symmetry_dataset: space group, operations, Wyckoff positions and the standardised
/// cell of a (possibly disordered) Structure, through spglib.
///
/// Disordered structures: every distinct set of (species, occupancy, oxidation state) on a site
/// is its own atom type, so Li on a 0.875 site and Li on a 0.625 site are not interchangeable
/// and the space group found is that of the average (disordered) structure.

#include <nernst/core/error.hpp>
#include <nernst/core/structure.hpp>
#include <nernst/symmetry/detail/spglib_cell.hpp>
#include <nernst/symmetry/space_group.hpp>
#include <nernst/symmetry/symmetry_operation.hpp>

#include <spglib.h>

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace symmetry {

/// Default tolerance (Å) of nernst's symmetry functions. spglib's own default is 1e-5, which is
/// too strict for relaxed or experimental structures; pymatgen uses 1e-2.
inline constexpr double default_symprec = 1e-3;

/// Everything spglib reports about a structure, in nernst types.
struct SymmetryDataset {
  int number = 0;                  ///< space-group number (1-230)
  int hall_number = 0;             ///< spglib Hall setting (1-530)
  std::string international;       ///< short Hermann-Mauguin symbol, e.g. "P-3m1"
  std::string hall_symbol;         ///< e.g. "-P 3 2\""
  std::string choice;              ///< setting choice ("", "1", "2", "H", ...)
  std::string point_group;         ///< e.g. "-3m"
  std::string schoenflies;         ///< e.g. "D3d^3"
  double symprec = 0;              ///< tolerance used (Å)

  /// Operations in the basis of the *input* cell (f' = R f + t on its fractional coordinates).
  std::vector<SymmetryOperation> operations;

  // Per input site.
  std::vector<char> wyckoff_letters;           ///< 'a', 'b', ...
  std::vector<int> wyckoff_multiplicities;     ///< multiplicity in the conventional cell
  std::vector<std::string> site_symmetry_symbols;  ///< e.g. "-3m."
  std::vector<int> equivalent_atoms;           ///< index of the representative of each site's orbit
  std::vector<int> crystallographic_orbits;    ///< orbit index, also across centring translations
  std::vector<int> mapping_to_primitive;       ///< index of the primitive-cell atom of each site
  std::vector<int> types;                      ///< spglib type used for each site (1-based)

  /// (a_s b_s c_s) = (a b c) P⁻¹ and x_s = P x + p, as spglib defines them (columns).
  Eigen::Matrix3d transformation_matrix = Eigen::Matrix3d::Identity();
  Eigen::Vector3d origin_shift = Eigen::Vector3d::Zero();
  Lattice primitive_lattice;                   ///< rows, same orientation as the input
  Lattice std_lattice;                         ///< idealised conventional cell, rows (rotated)
  Eigen::Matrix3d std_rotation_matrix = Eigen::Matrix3d::Identity();
  std::vector<Eigen::Vector3d> std_positions;  ///< fractional, in std_lattice
  std::vector<int> std_types;                  ///< spglib types (see `types`)
  std::vector<int> std_mapping_to_primitive;

  /// "6h" style Wyckoff symbol of input site i.
  std::string wyckoff(std::size_t i) const {
    return std::to_string(wyckoff_multiplicities.at(i)) + std::string(1, wyckoff_letters.at(i));
  }
  std::size_t num_sites() const { return wyckoff_letters.size(); }
};

/// Symmetry of `s` found with tolerance `symprec` (Å) and `angle_tolerance` (degrees; negative:
/// spglib's own choice). Throws ValueError when spglib fails (e.g. atoms too close for symprec).
inline SymmetryDataset get_symmetry_dataset(const Structure& s, double symprec = default_symprec,
                                            double angle_tolerance = -1.0) {
  if (!(symprec > 0)) throw ValueError("symmetry: symprec must be positive");
  auto cell = detail::make_cell(s);
  const int n = cell.size();
  std::unique_ptr<SpglibDataset, void (*)(SpglibDataset*)> ds(
      spgat_get_dataset(cell.lattice, cell.pos(), cell.types.data(), n, symprec, angle_tolerance),
      spg_free_dataset);
  if (!ds || ds->spacegroup_number == 0)
    throw ValueError("spglib could not determine the space group (symprec " + std::to_string(symprec) +
                     " Å): " + detail::spglib_error());

  SymmetryDataset r;
  r.number = ds->spacegroup_number;
  r.hall_number = ds->hall_number;
  r.international = ds->international_symbol;
  r.hall_symbol = ds->hall_symbol;
  r.choice = ds->choice;
  r.point_group = ds->pointgroup_symbol;
  r.schoenflies = space_group_type(ds->hall_number).schoenflies;
  r.symprec = symprec;
  r.operations.resize(static_cast<std::size_t>(ds->n_operations));
  for (int k = 0; k < ds->n_operations; ++k)
    for (int a = 0; a < 3; ++a) {
      for (int b = 0; b < 3; ++b) r.operations[k].rotation(a, b) = ds->rotations[k][a][b];
      r.operations[k].translation[a] = ds->translations[k][a];
    }

  std::map<int, int> orbit_size;
  for (int i = 0; i < n; ++i) ++orbit_size[ds->equivalent_atoms[i]];
  for (int i = 0; i < n; ++i) {
    r.wyckoff_letters.push_back(static_cast<char>('a' + ds->wyckoffs[i]));
    r.site_symmetry_symbols.emplace_back(ds->site_symmetry_symbols[i]);
    r.equivalent_atoms.push_back(ds->equivalent_atoms[i]);
    r.crystallographic_orbits.push_back(ds->crystallographic_orbits[i]);
    r.mapping_to_primitive.push_back(ds->mapping_to_primitive[i]);
    r.types.push_back(cell.types[i]);
    // Orbit size in the input cell scaled to the conventional cell (input may be a supercell
    // or a primitive cell of a centred lattice).
    const long m = static_cast<long>(orbit_size[ds->equivalent_atoms[i]]) * ds->n_std_atoms;
    r.wyckoff_multiplicities.push_back(static_cast<int>(m / n));
  }
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 3; ++b) {
      r.transformation_matrix(a, b) = ds->transformation_matrix[a][b];
      r.std_rotation_matrix(a, b) = ds->std_rotation_matrix[a][b];
    }
    r.origin_shift[a] = ds->origin_shift[a];
  }
  r.primitive_lattice = Lattice(detail::rows_from_columns(ds->primitive_lattice));
  r.std_lattice = Lattice(detail::rows_from_columns(ds->std_lattice));
  for (int k = 0; k < ds->n_std_atoms; ++k) {
    r.std_positions.emplace_back(ds->std_positions[k][0], ds->std_positions[k][1], ds->std_positions[k][2]);
    r.std_types.push_back(ds->std_types[k]);
    r.std_mapping_to_primitive.push_back(ds->std_mapping_to_primitive[k]);
  }
  return r;
}

/// Space-group operations of a cell given as arrays: lattice (rows, Å), fractional positions and
/// one integer type per site (sites of equal type may be exchanged). spglib's get_symmetry with
/// tolerance `symprec` (Å); the identity comes first. Throws ValueError when spglib finds none.
inline std::vector<SymmetryOperation> get_symmetry_operations(const Lattice& lattice,
                                                              const std::vector<Eigen::Vector3d>& frac,
                                                              const std::vector<int>& types,
                                                              double symprec = default_symprec) {
  if (!(symprec > 0)) throw ValueError("symmetry: symprec must be positive");
  if (frac.empty()) throw ValueError("symmetry: the cell has no sites");
  if (types.size() != frac.size()) throw ValueError("symmetry: one type per site is needed");
  const int n = static_cast<int>(frac.size());
  double lat[3][3];
  detail::to_columns(lattice, lat);
  std::vector<std::array<double, 3>> pos(frac.size());
  for (std::size_t i = 0; i < frac.size(); ++i) pos[i] = {frac[i][0], frac[i][1], frac[i][2]};
  const int max_ops = 48 * n;  // at most 48 point operations times n pure translations
  std::vector<int> rot(9 * static_cast<std::size_t>(max_ops));
  std::vector<double> tr(3 * static_cast<std::size_t>(max_ops));
  const int nops = spg_get_symmetry(reinterpret_cast<int(*)[3][3]>(rot.data()), reinterpret_cast<double(*)[3]>(tr.data()),
                                    max_ops, lat, reinterpret_cast<double(*)[3]>(pos.data()), types.data(), n, symprec);
  if (nops <= 0)
    throw ValueError("spglib found no symmetry operations (symprec " + std::to_string(symprec) + " Å): " +
                     detail::spglib_error());
  std::vector<SymmetryOperation> ops(static_cast<std::size_t>(nops));
  for (std::size_t k = 0; k < ops.size(); ++k)
    for (std::size_t a = 0; a < 3; ++a) {
      for (std::size_t b = 0; b < 3; ++b) ops[k].rotation(a, b) = rot[9 * k + 3 * a + b];
      ops[k].translation[a] = tr[3 * k + a];
    }
  // Identity first (spglib already does this; make it a guarantee).
  std::stable_partition(ops.begin(), ops.end(), [](const SymmetryOperation& o) {
    return o.rotation == Eigen::Matrix3i::Identity() && o.translation.cwiseAbs().maxCoeff() < 1e-9;
  });
  return ops;
}

/// Space-group number and short symbol only (cheaper to call than keeping a dataset around).
inline std::pair<int, std::string> space_group(const Structure& s, double symprec = default_symprec) {
  const auto d = get_symmetry_dataset(s, symprec);
  return {d.number, d.international};
}

}  // namespace symmetry
NERNST_NAMESPACE_END
