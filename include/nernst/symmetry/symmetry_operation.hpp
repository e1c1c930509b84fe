#pragma once
/// \file
/// \brief SymmetryOperation: a space-group operation on fractional coordinates, f' = R f + t.

#include <nernst/core/macros.hpp>

#include <Eigen/Core>

#include <cmath>

NERNST_NAMESPACE_BEGIN
namespace symmetry {

/// A space-group operation in the basis of the cell it was found for (spglib's convention):
/// fractional column vectors map as f' = rotation · f + translation. The one operation type of
/// nernst: spglib results, CIF operations (io::SymOp) and the enumerator (enumerate::SymOp).
struct SymmetryOperation {
  Eigen::Matrix3i rotation = Eigen::Matrix3i::Identity();
  Eigen::Vector3d translation = Eigen::Vector3d::Zero();  ///< fractional; in [0, 1) from spglib, as written in a CIF

  Eigen::Vector3d apply(const Eigen::Vector3d& f) const { return rotation.cast<double>() * f + translation; }

  /// Same rotation and translations equal modulo lattice translations within `tol`.
  bool equivalent(const SymmetryOperation& o, double tol = 1e-6) const {
    if (rotation != o.rotation) return false;
    for (int d = 0; d < 3; ++d) {
      const double dt = translation[d] - o.translation[d];
      if (std::abs(dt - std::round(dt)) > tol) return false;
    }
    return true;
  }
};

}  // namespace symmetry
NERNST_NAMESPACE_END
