#pragma once
/// \file
/// \brief SiteList: the crystallographic sites a mobile ion can occupy (fractional coordinates and
/// labels, in file order), read from a CIF and checked against the trajectory that will be
/// analysed with them (analysis/site_analysis.hpp).
///
/// Why the checks: GEMDAT places the sites with the *trajectory's* lattice and never compares it
/// with the sites file's own cell, so a sites file of another cell (the primitive cell for a
/// supercell run, a relaxed instead of the MD cell) silently yields sites in the wrong places and
/// meaningless jump statistics. Every check here names the file it refers to.

#include <nernst/core/error.hpp>
#include <nernst/core/lattice.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/core/structure.hpp>
#include <nernst/io/cif.hpp>
#include <nernst/io/detail/cif_syntax.hpp>
#include <nernst/io/detail/line_reader.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <sstream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

/// Sites in file order. `frac` are the coordinates as written (GEMDAT uses them unrounded: the
/// reference CIFs carry 10 decimals, so site distances are 3.6999999990… Å, not 3.7).
struct SiteList {
  std::vector<Eigen::Vector3d> frac;
  std::vector<std::string> labels;
  Lattice lattice;      ///< the sites file's own cell (only used to check the trajectory's)
  std::string source;   ///< file name, for error messages

  std::size_t size() const { return frac.size(); }
  /// Distinct labels, sorted (GEMDAT's order of jump types).
  std::vector<std::string> unique_labels() const {
    std::vector<std::string> u = labels;
    std::sort(u.begin(), u.end());
    u.erase(std::unique(u.begin(), u.end()), u.end());
    return u;
  }
};

namespace detail {

/// Fractional coordinates of the raw atom-site rows lie in [0, 1] (to a rounding tolerance):
/// the reader below wraps them, so a site written at 1.4 would otherwise move without a word.
inline void check_sites_inside_cell(const std::string& path) {
  using namespace io::detail;
  const auto blocks = parse_cif_text(read_text_file(path), path);
  constexpr double tol = 1e-6;
  for (const auto& b : blocks) {
    const CifLoop* l = b.loop_with("_atom_site_fract_x");
    if (!l) continue;
    const int cl = l->column("_atom_site_label");
    const std::array<int, 3> cols{l->column("_atom_site_fract_x"), l->column("_atom_site_fract_y"),
                                  l->column("_atom_site_fract_z")};
    for (const auto& row : l->rows)
      for (int c : cols) {
        if (c < 0) continue;
        double x;
        if (!try_parse_cif_number(row[static_cast<std::size_t>(c)].text, x)) continue;  // the CIF reader reports it
        if (x < -tol || x > 1 + tol) {
          std::ostringstream os;
          os << path << ":" << row[static_cast<std::size_t>(c)].line << ": site "
             << (cl >= 0 ? row[static_cast<std::size_t>(cl)].text : std::string("?")) << " lies outside the cell (fractional coordinate "
             << row[static_cast<std::size_t>(c)].text << " not in [0, 1]); write the site's image inside the cell";
          throw ValueError(os.str());
        }
      }
  }
}

/// pymatgen's CifParser (which GEMDAT reads sites with) replaces a fractional coordinate within
/// 1e-4 relative of 1/3 or 2/3 by the exact double, so that "0.3333333333" becomes 1/3: without
/// the same replacement site distances differ from GEMDAT's in the 10th digit.
inline double pymatgen_snap_thirds(double x) {
  for (const double c : {1.0 / 3.0, 2.0 / 3.0})
    if (std::abs(1 - x / c) < 1e-4) return c;
  return x;
}

}  // namespace detail

/// Reads the sites of a CIF (symmetry-expanded when it has operations; a P1 file keeps its order),
/// with the coordinates as pymatgen parses them (detail::pymatgen_snap_thirds).
inline SiteList read_site_list(const std::string& path) {
  detail::check_sites_inside_cell(path);
  const io::CifData data = io::read_cif_data(path);
  SiteList s;
  s.source = path;
  s.lattice = data.structure.lattice();
  for (const auto& site : data.structure.sites()) {
    Eigen::Vector3d f = site.frac;
    for (int a = 0; a < 3; ++a) f[a] = detail::pymatgen_snap_thirds(f[a]);
    s.frac.push_back(f);
    s.labels.push_back(site.label);
  }
  if (s.frac.empty()) throw ValueError(path + ": the sites file holds no sites");
  return s;
}

/// The sites of species `z` (partially occupied ones included) of a parent structure, repeated
/// into a supercell of it: the candidate sites of a mobile ion in an MD cell built from the
/// parent, where an ordering occupies only some of them. `cell` is the supercell (e.g. the
/// relaxed ordering's); its integer multiple of the parent is recovered by rounding, so a
/// slightly strained cell still maps. Labels are the parent's site labels.
inline SiteList sites_in_supercell(const Structure& parent, int z, const Lattice& cell, const std::string& source) {
  const Eigen::Matrix3d Mf = cell.matrix() * parent.lattice().inverse();
  Eigen::Matrix3d M = Mf.array().round().matrix();
  if ((Mf - M).cwiseAbs().maxCoeff() > 0.05 || std::abs(M.determinant()) < 0.5)
    throw ValueError(source + ": the cell is not a supercell of the parent structure (multiple " + std::to_string(Mf(0, 0)) + ", ...)");
  const Eigen::Matrix3d Minv = M.inverse();
  int reach = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) reach += static_cast<int>(std::abs(M(i, j)));
  SiteList s;
  s.source = source;
  s.lattice = cell;
  for (const auto& site : parent.sites()) {
    bool has = false;
    for (const auto& sp : site.species) has |= sp.z == z;
    if (!has) continue;
    for (int a = -reach; a <= reach; ++a)  // every lattice point of the parent inside the supercell
      for (int b = -reach; b <= reach; ++b)
        for (int c = -reach; c <= reach; ++c) {
          const Eigen::Vector3d f = Minv.transpose() * (site.frac + Eigen::Vector3d(a, b, c));
          if ((f.array() < -1e-9).any() || (f.array() >= 1 - 1e-9).any()) continue;
          s.frac.push_back(Lattice::wrap_frac(f));
          s.labels.push_back(site.label);
        }
  }
  if (s.frac.empty()) throw ValueError(source + ": no site holds the mobile species");
  return s;
}

/// The sites of the mobile species `z` of a structure file (the ordered structure of the run, or
/// its parent) in the trajectory's cell (sites_in_supercell). When the structure is ordered (every
/// site one species, full occupancy) it must hold as many atoms as the trajectory, times the
/// number of its cells in the trajectory's: a structure of another composition or supercell
/// would give sites of another run. Errors name the structure file and the trajectory.
inline SiteList sites_from_structure(const Structure& s, int z, const Lattice& traj_cell, std::size_t traj_atoms,
                                     const std::string& source, const std::string& traj_name) {
  SiteList sites = sites_in_supercell(s, z, traj_cell, source);
  bool ordered = true;
  for (const auto& site : s.sites()) ordered &= site.is_ordered();
  const double cells = std::round(traj_cell.volume() / s.lattice().volume());
  const double expected = cells * static_cast<double>(s.size());
  if (ordered && std::abs(expected - static_cast<double>(traj_atoms)) > 0.5) {
    std::ostringstream os;
    os << source << ": the structure has " << s.size() << " atoms (" << expected << " in the trajectory's cell), the trajectory "
       << traj_name << " " << traj_atoms << "; give the structure the trajectory was run from";
    throw ValueError(os.str());
  }
  return sites;
}

/// Refuses a trajectory whose cell is not the sites file's cell (lengths to 1e-3 relative,
/// angles to 0.01°): the sites would be placed by the trajectory's lattice in the wrong places.
inline void check_same_cell(const SiteList& sites, const Lattice& traj, const std::string& traj_name) {
  const auto ls = sites.lattice.lengths(), lt = traj.lengths();
  const auto as = sites.lattice.angles(), at = traj.angles();
  for (int i = 0; i < 3; ++i) {
    const auto k = static_cast<std::size_t>(i);
    if (std::abs(ls[k] - lt[k]) > 1e-3 * lt[k] || std::abs(as[k] - at[k]) > 1e-2) {
      std::ostringstream os;
      os << sites.source << ": the sites' cell (" << ls[0] << ", " << ls[1] << ", " << ls[2] << " Å; " << as[0] << ", " << as[1]
         << ", " << as[2] << "°) is not the cell of the trajectory " << traj_name << " (" << lt[0] << ", " << lt[1] << ", " << lt[2]
         << " Å; " << at[0] << ", " << at[1] << ", " << at[2] << "°); give sites for the simulation cell (e.g. the supercell)";
      throw ValueError(os.str());
    }
  }
}

}  // namespace analysis
NERNST_NAMESPACE_END
