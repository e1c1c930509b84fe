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
      // Row-vector convention: frac = cart · h⁻¹, cart = frac · h. Plain scalars (no Eigen
      // temporaries) and floor(s + ½) (one instruction with SSE4.1, unlike nearbyint).
      const Eigen::Matrix3d inv = cell.inverse();
      const double i00 = inv(0, 0), i01 = inv(0, 1), i02 = inv(0, 2), i10 = inv(1, 0), i11 = inv(1, 1), i12 = inv(1, 2),
                   i20 = inv(2, 0), i21 = inv(2, 1), i22 = inv(2, 2);
      for (std::size_t i = 0; i < n_; ++i) {
        double d0 = w[3 * i] - prev_[3 * i], d1 = w[3 * i + 1] - prev_[3 * i + 1], d2 = w[3 * i + 2] - prev_[3 * i + 2];
        const double n0 = std::floor(d0 * i00 + d1 * i10 + d2 * i20 + 0.5);
        const double n1 = std::floor(d0 * i01 + d1 * i11 + d2 * i21 + 0.5);
        const double n2 = std::floor(d0 * i02 + d1 * i12 + d2 * i22 + 0.5);
        if (n0 != 0.0 || n1 != 0.0 || n2 != 0.0) {
          d0 -= n0 * cell(0, 0) + n1 * cell(1, 0) + n2 * cell(2, 0);
          d1 -= n0 * cell(0, 1) + n1 * cell(1, 1) + n2 * cell(2, 1);
          d2 -= n0 * cell(0, 2) + n1 * cell(1, 2) + n2 * cell(2, 2);
        }
        cur_[3 * i] += d0, cur_[3 * i + 1] += d1, cur_[3 * i + 2] += d2;
        prev_[3 * i] = w[3 * i], prev_[3 * i + 1] = w[3 * i + 1], prev_[3 * i + 2] = w[3 * i + 2];
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
