#pragma once
/// \file
/// \brief Frame: a structure plus the per-frame labels trajectory and training files carry.

#include <nernst/core/structure.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace io {

struct Frame {
  Structure structure;
  std::optional<double> energy;                 ///< eV
  std::optional<Eigen::Matrix3d> stress;        ///< eV/Å³, ASE sign (positive = tensile)
  std::vector<Eigen::Vector3d> forces;          ///< eV/Å, empty when absent
  std::vector<Eigen::Vector3d> velocities;      ///< Å/fs, empty when absent
  std::map<std::string, std::string> info;      ///< other key=value pairs, verbatim
};

}  // namespace io
NERNST_NAMESPACE_END
