#pragma once
/// \file
/// \brief Diffusion in a lattice plane (ab, ac, bc): the MSD of the displacements projected onto
/// the plane spanned by two lattice vectors, fitted with d = 2 and the same window, He et al.
/// error and block estimates as the 3-D D (diffusion.hpp).
///
/// Why lattice planes: layered conductors (Li3YCl6's Li layers, Li6PS5Cl-like slabs, garnets under
/// strain) conduct differently in and across the layers, and the layers are lattice planes, not
/// Cartesian ones. For a non-orthogonal cell the out-of-plane vector c has an in-plane component,
/// so "xy" and "ab" differ: the projection here removes only the component along the plane
/// normal n = a × b (resp. a × c, b × c): MSD_plane = tr M − nᵀ M n from the MSD tensor M.
///
/// For a walk with per-step displacement covariance Σ, MSD_plane(t) = (tr Σ − nᵀΣn)·t/Δt, so
/// D_plane = (tr Σ − nᵀΣn)/(4 Δt) — the analytic reference of tests/analysis/test_analytic.cpp.

#include <nernst/analysis/diffusion.hpp>
#include <nernst/analysis/msd.hpp>
#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <Eigen/Core>
#include <Eigen/Geometry>

#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

enum class LatticePlane { ab, ac, bc };

/// "ab", "ac" or "bc" (also "ba", "ca", "cb"); anything else is an error naming the choices.
inline LatticePlane parse_lattice_plane(const std::string& s) {
  if (s == "ab" || s == "ba") return LatticePlane::ab;
  if (s == "ac" || s == "ca") return LatticePlane::ac;
  if (s == "bc" || s == "cb") return LatticePlane::bc;
  throw ValueError("unknown lattice plane '" + s + "' (choose ab, ac or bc)");
}

inline const char* plane_name(LatticePlane p) { return p == LatticePlane::ab ? "ab" : p == LatticePlane::ac ? "ac" : "bc"; }

/// Unit normal of the plane spanned by two lattice vectors (cell rows a, b, c).
inline Eigen::Vector3d plane_normal(const Eigen::Matrix3d& cell, LatticePlane p) {
  const Eigen::Vector3d a = cell.row(0), b = cell.row(1), c = cell.row(2);
  const Eigen::Vector3d n = p == LatticePlane::ab ? a.cross(b) : p == LatticePlane::ac ? a.cross(c) : b.cross(c);
  if (!(n.norm() > 0)) throw ValueError(std::string("lattice plane ") + plane_name(p) + ": the two lattice vectors are parallel");
  return n.normalized();
}

/// MSD (Å²) of the displacements projected onto the lattice plane.
inline std::vector<double> planar_msd(const MSDTensor& t, const Eigen::Matrix3d& cell, LatticePlane p) {
  return t.plane(plane_normal(cell, p));
}

/// D in a lattice plane for one MSD group (d = 2; `o.dim` is overridden). The blocks of the group,
/// when the MSD kept them, give the block estimate as for the 3-D D. The cell is the first
/// frame's (MSDResult::cell0).
inline DiffusionFit fit_planar_diffusion(const MSDResult& r, const std::string& group, LatticePlane p, std::size_t n_mobile,
                                         DiffusionOptions o = {}) {
  o.dim = 2;
  const GroupMSD& g = r.group(group);
  std::vector<std::vector<double>> blocks;
  for (const auto& b : g.blocks) blocks.push_back(planar_msd(b, r.cell0, p));
  return fit_diffusion(r.lag_ps(), planar_msd(g.tensor, r.cell0, p), n_mobile, o, blocks);
}

}  // namespace analysis
NERNST_NAMESPACE_END
