#pragma once
/// \file
/// \brief Conversion between nernst's Structure (lattice rows, possibly disordered sites) and
/// spglib's cell arrays (lattice columns, one integer type per atom).

#include <nernst/core/error.hpp>
#include <nernst/core/structure.hpp>

#include <spglib.h>

#include <array>
#include <cmath>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace symmetry {
namespace detail {

/// Two sites have the same spglib type iff they hold the same species with the same
/// occupancies (and oxidation states) within this tolerance.
inline constexpr double occupancy_tolerance = 1e-4;

inline bool same_species(const std::vector<SiteSpecies>& a, const std::vector<SiteSpecies>& b) {
  if (a.size() != b.size()) return false;
  // Order-independent: every species of a has a match in b (sizes equal, species distinct per site).
  for (const auto& sa : a) {
    bool found = false;
    for (const auto& sb : b) {
      if (sa.z != sb.z) continue;
      if (std::abs(sa.occupancy - sb.occupancy) > occupancy_tolerance) continue;
      if (sa.oxidation.has_value() != sb.oxidation.has_value()) continue;
      if (sa.oxidation && std::abs(*sa.oxidation - *sb.oxidation) > 1e-6) continue;
      found = true;
      break;
    }
    if (!found) return false;
  }
  return true;
}

/// A cell in spglib's layout. `lattice[i][j]` is component i of lattice vector j (columns).
struct SpglibCell {
  double lattice[3][3];
  std::vector<std::array<double, 3>> positions;  ///< fractional
  std::vector<int> types;                        ///< 1-based type of each atom
  std::vector<std::vector<SiteSpecies>> species; ///< type - 1 -> species of that type
  std::vector<std::size_t> first_site;           ///< type - 1 -> first input site with that type

  int size() const { return static_cast<int>(types.size()); }
  double (*pos())[3] { return reinterpret_cast<double(*)[3]>(positions.data()); }
};

inline void to_columns(const Lattice& l, double out[3][3]) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) out[i][j] = l.matrix()(j, i);
}

inline Eigen::Matrix3d rows_from_columns(const double m[3][3]) {
  Eigen::Matrix3d r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r(j, i) = m[i][j];
  return r;
}

/// Builds spglib input from a Structure; each distinct (species, occupancy) set is one type.
inline SpglibCell make_cell(const Structure& s) {
  if (s.empty()) throw ValueError("symmetry: the structure has no sites");
  SpglibCell c;
  to_columns(s.lattice(), c.lattice);
  c.positions.reserve(s.size());
  c.types.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const Site& site = s[i];
    if (site.species.empty()) throw ValueError("symmetry: site '" + site.label + "' has no species");
    int t = 0;
    for (std::size_t k = 0; k < c.species.size(); ++k)
      if (same_species(c.species[k], site.species)) {
        t = static_cast<int>(k) + 1;
        break;
      }
    if (t == 0) {
      c.species.push_back(site.species);
      c.first_site.push_back(i);
      t = static_cast<int>(c.species.size());
    }
    c.types.push_back(t);
    c.positions.push_back({site.frac[0], site.frac[1], site.frac[2]});
  }
  return c;
}

inline std::string spglib_error() {
  const char* msg = spg_get_error_message(spg_get_error_code());
  return msg ? std::string(msg) : std::string("unknown spglib error");
}

}  // namespace detail
}  // namespace symmetry
NERNST_NAMESPACE_END
