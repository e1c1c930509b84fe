#pragma once
/// \file
/// \brief Frame: a structure plus the per-frame labels trajectory and training files carry.

#include <nernst/core/structure.hpp>

#include <array>
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

  // Additive fields (empty / unset when the file has no such data).
  std::optional<double> free_energy;            ///< eV (VASP's F = TOTEN, ASE's free_energy)
  std::vector<Eigen::Vector3i> images;          ///< periodic image flags (LAMMPS ix iy iz, extxyz image:I:3)
  std::vector<double> charges;                  ///< e, per atom (LAMMPS charge style, extxyz charges)
  std::vector<std::array<bool, 3>> movable;     ///< POSCAR selective dynamics (true = T = free)
  std::optional<long> step;                     ///< MD/ionic step, when the file records one
};

}  // namespace io
NERNST_NAMESPACE_END
