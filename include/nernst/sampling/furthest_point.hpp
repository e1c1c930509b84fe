#pragma once
/// \file
/// \brief Furthest-point sampling of trajectory frames: greedily picks the frame whose smallest
/// distance to the frames already picked is largest, with the distance between two frames the
/// mean squared difference of the atomic positions, d(a, b) = (1/N) Σ_i |r_i^a − r_i^b|² (Å²).
///
/// Positions are compared as given (pass unwrapped positions, as the trajectory writer stores
/// them). O(k · n_frames · N) time, O(n_frames) extra memory. Ties go to the lowest frame index,
/// so the selection is deterministic.

#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <limits>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace sampling {

/// Mean squared position difference (Å²) of two frames of N atoms (n×3, same atom order).
inline double mean_squared_difference(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols() || a.rows() == 0)
    throw ValueError("mean_squared_difference: frames must have the same, nonzero number of atoms");
  return (a - b).rowwise().squaredNorm().mean();
}

struct FurthestPointSelection {
  std::vector<std::size_t> indices;  ///< selected frames, in selection order
  std::vector<double> distances;     ///< for each pick, its distance (Å²) to the earlier picks (first: +inf)
};

/// Selects `k` frames (all when k ≥ n), starting from frame `first`.
inline FurthestPointSelection furthest_point_sampling(const std::vector<Eigen::MatrixXd>& frames, std::size_t k,
                                                      std::size_t first = 0) {
  const std::size_t n = frames.size();
  FurthestPointSelection out;
  if (n == 0 || k == 0) return out;
  if (first >= n) throw ValueError("furthest_point_sampling: first frame index out of range");
  k = std::min(k, n);
  std::vector<double> dmin(n, std::numeric_limits<double>::infinity());
  std::vector<char> taken(n, 0);
  std::size_t cur = first;
  out.indices.push_back(cur);
  out.distances.push_back(std::numeric_limits<double>::infinity());
  taken[cur] = 1;
  while (out.indices.size() < k) {
    std::size_t best = n;
    double bd = -1;
    for (std::size_t f = 0; f < n; ++f) {
      if (taken[f]) continue;
      dmin[f] = std::min(dmin[f], mean_squared_difference(frames[f], frames[cur]));
      if (dmin[f] > bd) bd = dmin[f], best = f;
    }
    cur = best;
    taken[cur] = 1;
    out.indices.push_back(cur);
    out.distances.push_back(bd);
  }
  return out;
}

}  // namespace sampling
NERNST_NAMESPACE_END
