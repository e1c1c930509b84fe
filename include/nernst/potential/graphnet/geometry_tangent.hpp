#pragma once
/// \file
/// \brief The geometry tangent of a dual-number evaluation (training with force and stress
/// losses, docs/training.md), shared by the M3GNet and CHGNet evaluators.
///
/// A Dual-scalar evaluation differentiates along one direction of the geometry: displacements
/// δx_i (Å) and a strain δε (r → r(I + ε), rows = Cartesian vectors). Every edge vector
/// r_e = x_dst + image − x_src gets the tangent δr_e = δx_dst − δx_src + r_e δε; everything
/// downstream (lengths, bases, the network) follows by the Dual arithmetic.

#include <nernst/core/macros.hpp>
#include <nernst/nn/dual.hpp>

#include <Eigen/Core>

#include <array>
#include <cstddef>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {

struct GeometryTangent {
  std::vector<std::array<double, 3>> dx;    ///< δx_i (Å)
  Eigen::Matrix3d deps = Eigen::Matrix3d::Zero();  ///< δε
  bool active = false;

  void set(const std::vector<std::array<double, 3>>& displacements, const Eigen::Matrix3d& strain) {
    dx = displacements;
    deps = strain;
    active = true;
  }
  void clear() { active = false; }

  /// Seeds the tangents of the edge vector `r` (three Dual scalars whose values are set) of an
  /// edge from atom s to atom d; returns r·r (with its tangent).
  template <class Scalar, class Row>
  Scalar seed(Row r, std::size_t s, std::size_t d) const {
    double v[3];
    for (int k = 0; k < 3; ++k) v[k] = nn::value_of(r(k));
    Scalar r2(0);
    for (int k = 0; k < 3; ++k) {
      const auto ks = static_cast<std::size_t>(k);
      r(k).d = dx[d][ks] - dx[s][ks] + v[0] * deps(0, k) + v[1] * deps(1, k) + v[2] * deps(2, k);
      r2 += r(k) * r(k);
    }
    return r2;
  }
};

}  // namespace graphnet
NERNST_NAMESPACE_END
