#pragma once
/// \file
/// \brief Unwrapper: continuous (unwrapped) trajectories from wrapped positions and per-frame
/// cells, with the toroidal-view-preserving scheme of Bullerjahn, von Bülow, Heidari, Hénin and
/// Hummer (JCTC 2023): u(t+1) = u(t) + Δw − round(Δw·h(t+1)⁻¹)·h(t+1), Δw = w(t+1) − w(t).
///
/// Each step adds the minimum-image increment in the *new* cell, so NpT cell fluctuations are
/// not multiplied by the number of boxes crossed (the flaw of image-flag unwrapping, von Bülow
/// et al. JCP 2020). Positions that are already unwrapped pass through unchanged as long as no
/// atom moves more than half a cell between two frames.

#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <Eigen/Core>
#include <Eigen/LU>

#include <cmath>
#include <cstddef>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

class Unwrapper {
 public:
  Unwrapper() = default;
  explicit Unwrapper(std::size_t n_atoms) : n_(n_atoms) {}

  std::size_t n_atoms() const { return n_; }
  std::size_t n_frames() const { return frames_; }

  /// Takes the wrapped Cartesian positions `w` (n_atoms × 3, row-major, Å) of the next frame and
  /// its cell (rows = lattice vectors, Å); writes the unwrapped positions into `u` (same layout).
  /// The first frame is returned as given.
  void push(const double* w, const Eigen::Matrix3d& cell, double* u) {
    if (std::abs(cell.determinant()) < 1e-12) throw ValueError("Unwrapper: singular cell");
    const std::size_t n3 = 3 * n_;
    if (frames_ == 0) {
      prev_.assign(w, w + n3);
      cur_.assign(w, w + n3);
    } else {
      const Eigen::Matrix3d inv = cell.inverse();
      for (std::size_t i = 0; i < n_; ++i) {
        Eigen::Vector3d d(w[3 * i] - prev_[3 * i], w[3 * i + 1] - prev_[3 * i + 1], w[3 * i + 2] - prev_[3 * i + 2]);
        // Row-vector convention: frac = cart · h⁻¹, cart = frac · h.
        const Eigen::Vector3d s = inv.transpose() * d;
        const Eigen::Vector3d n(std::nearbyint(s[0]), std::nearbyint(s[1]), std::nearbyint(s[2]));
        if (n[0] != 0.0 || n[1] != 0.0 || n[2] != 0.0) d -= cell.transpose() * n;
        for (int a = 0; a < 3; ++a) {
          cur_[3 * i + a] += d[a];
          prev_[3 * i + a] = w[3 * i + a];
        }
      }
    }
    for (std::size_t k = 0; k < n3; ++k) u[k] = cur_[k];
    ++frames_;
  }

  /// The current unwrapped positions (n_atoms × 3).
  const std::vector<double>& positions() const { return cur_; }

 private:
  std::size_t n_ = 0;
  std::size_t frames_ = 0;
  std::vector<double> prev_;  ///< last wrapped positions
  std::vector<double> cur_;   ///< last unwrapped positions
};

}  // namespace analysis
NERNST_NAMESPACE_END
