#pragma once
/// \file
/// \brief Estimator<DensityMap>: time-averaged probability density of a set of atoms on a grid
/// of fractional coordinates, with 2-D projections, written as .npy (xtensor's xnpy).
///
/// The grid follows pymatgen-analysis-diffusion's ProbabilityDensityAnalysis so results are
/// comparable: grid points at fractional k·(interval/L_α) for every k with k·interval/L_α < 1
/// (the last cell is shorter when L_α/interval is not an integer), each atom counted on the
/// nearest (minimum-image Cartesian distance) of the 8 corners of its grid cell, and
/// P = count/(frames·atoms·V)·n_grid in Å⁻³, so that Σ P·V/n_grid = 1.

#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <Eigen/Core>
#include <Eigen/LU>
#include <xtensor/xnpy.hpp>
#include <xtensor/xtensor.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

template <class Policy>
class Estimator;

/// Policy: probability-density map on a fractional grid.
struct DensityMap {};

struct DensityMapOptions {
  double interval_A = 0.5;  ///< grid spacing along each lattice vector (Å)
};

template <>
class Estimator<DensityMap> {
 public:
  /// `atoms`: indices of the atoms mapped; `cell`: reference cell fixing the grid (rows, Å).
  Estimator(std::vector<std::size_t> atoms, const Eigen::Matrix3d& cell, DensityMapOptions o = {})
      : atoms_(std::move(atoms)), cell_(cell), opt_(o) {
    if (atoms_.empty()) throw ValueError("DensityMap: no atoms selected");
    if (!(o.interval_A > 0)) throw ValueError("DensityMap: interval must be positive");
    if (std::abs(cell.determinant()) < 1e-12) throw ValueError("DensityMap: singular cell");
    inv_ = cell.inverse();
    for (int a = 0; a < 3; ++a) {
      d_[a] = o.interval_A / cell.row(a).norm();
      std::size_t n = 0;
      while (static_cast<double>(n) * d_[a] < 1.0) ++n;  // same as len(np.arange(0, 1, d))
      n_[a] = n;
    }
    counts_ = xt::zeros<double>({n_[0], n_[1], n_[2]});
  }

  std::array<std::size_t, 3> shape() const { return n_; }
  std::size_t n_frames() const { return frames_; }
  /// The reference cell fixing the grid (rows a, b, c; Å).
  const Eigen::Matrix3d& cell() const { return cell_; }
  /// Fractional coordinate of grid index k along lattice vector `axis` (k·interval/L_axis).
  double grid_frac(int axis, std::size_t k) const { return static_cast<double>(k) * d_[static_cast<std::size_t>(axis)]; }

  /// Adds one frame of Cartesian positions (all atoms, n × 3 row-major, Å). The grid stays in
  /// fractional coordinates of this frame's cell (NpT: positions are mapped with the current cell).
  void push(const double* xyz, const Eigen::Matrix3d& cell) {
    const Eigen::Matrix3d inv = cell.inverse();
    for (auto i : atoms_) {
      Eigen::Vector3d f = inv.transpose() * Eigen::Vector3d(xyz[3 * i], xyz[3 * i + 1], xyz[3 * i + 2]);
      for (int a = 0; a < 3; ++a) f[a] -= std::floor(f[a]);
      std::array<std::size_t, 3> lo, hi;
      for (int a = 0; a < 3; ++a) {
        lo[a] = std::min(static_cast<std::size_t>(f[a] / d_[a]), n_[a] - 1);
        hi[a] = lo[a] + 1 < n_[a] ? lo[a] + 1 : 0;
      }
      double best = 1e300;
      std::array<std::size_t, 3> arg{};
      for (int c = 0; c < 8; ++c) {
        const std::array<std::size_t, 3> k{(c & 4) ? hi[0] : lo[0], (c & 2) ? hi[1] : lo[1], (c & 1) ? hi[2] : lo[2]};
        Eigen::Vector3d df;
        for (int a = 0; a < 3; ++a) {
          df[a] = static_cast<double>(k[a]) * d_[a] - f[a];
          df[a] -= std::round(df[a]);
        }
        const double dist = (cell_.transpose() * df).squaredNorm();
        if (dist < best) {
          best = dist;
          arg = k;
        }
      }
      counts_(arg[0], arg[1], arg[2]) += 1.0;
    }
    ++frames_;
  }

  /// Probability density P (Å⁻³) on the grid (n_a, n_b, n_c).
  xt::xtensor<double, 3> density() const {
    const double ngrid = static_cast<double>(n_[0] * n_[1] * n_[2]);
    const double norm = ngrid / (static_cast<double>(frames_) * static_cast<double>(atoms_.size()) *
                                 std::abs(cell_.determinant()));
    return counts_ * norm;
  }
  /// Mean of P over axis `axis` (0 = a → bc plane, 1 = b → ac plane, 2 = c → ab plane).
  xt::xtensor<double, 2> projection(int axis) const {
    const auto P = density();
    std::array<std::size_t, 2> sh{};
    int k = 0;
    for (int a = 0; a < 3; ++a)
      if (a != axis) sh[static_cast<std::size_t>(k++)] = n_[a];
    xt::xtensor<double, 2> out = xt::zeros<double>(sh);
    for (std::size_t i = 0; i < n_[0]; ++i)
      for (std::size_t j = 0; j < n_[1]; ++j)
        for (std::size_t l = 0; l < n_[2]; ++l) {
          const double v = P(i, j, l) / static_cast<double>(n_[static_cast<std::size_t>(axis)]);
          if (axis == 0) out(j, l) += v;
          else if (axis == 1) out(i, l) += v;
          else out(i, j) += v;
        }
    return out;
  }
  /// Writes the 3-D density and the three projections as NumPy files `<stem>.npy`,
  /// `<stem>_ab.npy`, `<stem>_ac.npy`, `<stem>_bc.npy`.
  void write_npy(const std::string& stem) const {
    xt::dump_npy(stem + ".npy", density());
    xt::dump_npy(stem + "_ab.npy", projection(2));
    xt::dump_npy(stem + "_ac.npy", projection(1));
    xt::dump_npy(stem + "_bc.npy", projection(0));
  }

 private:
  std::vector<std::size_t> atoms_;
  Eigen::Matrix3d cell_, inv_;
  DensityMapOptions opt_;
  std::array<double, 3> d_{};
  std::array<std::size_t, 3> n_{};
  xt::xtensor<double, 3> counts_;
  std::size_t frames_ = 0;
};

}  // namespace analysis
NERNST_NAMESPACE_END
